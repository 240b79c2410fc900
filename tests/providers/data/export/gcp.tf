resource "google_compute_firewall" "prod_gcp_portsync_1a2b3c_control_plane_tcp_0aa1_8466f8e8" {
  project       = "portsync-test"
  name          = "portsync-1a2b3c-control-plane-tcp-0aa1"
  network       = "https://www.googleapis.com/compute/v1/projects/portsync-test/global/networks/vpc-1"
  direction     = "INGRESS"
  priority      = 900
  description   = "[portsync] 2379-2380 etcd \"peer\" \\ $${var.secret} %%{ if true } second line; 6443 Kubernetes API server"
  source_ranges = ["203.0.113.0/24"]
  target_tags   = ["k8s-cp"]

  allow {
    protocol = "tcp"
    ports    = ["2379-2380", "6443"]
  }
}

import {
  to = google_compute_firewall.prod_gcp_portsync_1a2b3c_control_plane_tcp_0aa1_8466f8e8
  id = "projects/portsync-test/global/firewalls/portsync-1a2b3c-control-plane-tcp-0aa1"
}

resource "google_compute_firewall" "prod_gcp_portsync_1a2b3c_control_plane_udp_0bb2_f27835b5" {
  project     = "portsync-test"
  name        = "portsync-1a2b3c-control-plane-udp-0bb2"
  network     = "https://www.googleapis.com/compute/v1/projects/portsync-test/global/networks/vpc-1"
  direction   = "INGRESS"
  priority    = 1000
  description = "[portsync] 4789 vxlan"
  source_tags = ["k8s-node"]
  target_tags = ["k8s-cp"]

  allow {
    protocol = "udp"
    ports    = ["4789"]
  }
}

import {
  to = google_compute_firewall.prod_gcp_portsync_1a2b3c_control_plane_udp_0bb2_f27835b5
  id = "projects/portsync-test/global/firewalls/portsync-1a2b3c-control-plane-udp-0bb2"
}

resource "google_compute_firewall" "prod_gcp_portsync_1a2b3c_worker_all_0cc3_e3f02939" {
  project                 = "portsync-test"
  name                    = "portsync-1a2b3c-worker-all-0cc3"
  network                 = "https://www.googleapis.com/compute/v1/projects/portsync-test/global/networks/vpc-1"
  direction               = "EGRESS"
  priority                = 1000
  description             = "[portsync] egress"
  destination_ranges      = ["10.0.0.0/8"]
  target_service_accounts = ["nodes@portsync-test.iam.gserviceaccount.com"]

  allow {
    protocol = "all"
  }
}

import {
  to = google_compute_firewall.prod_gcp_portsync_1a2b3c_worker_all_0cc3_e3f02939
  id = "projects/portsync-test/global/firewalls/portsync-1a2b3c-worker-all-0cc3"
}

resource "google_compute_firewall" "prod_gcp_portsync_1a2b3c_worker_tcp_0dd4_86dc5d7e" {
  project                 = "portsync-test"
  name                    = "portsync-1a2b3c-worker-tcp-0dd4"
  network                 = "https://www.googleapis.com/compute/v1/projects/portsync-test/global/networks/vpc-1"
  direction               = "INGRESS"
  priority                = 1000
  description             = "[portsync] 30000-32767 node ports"
  source_service_accounts = ["lb@portsync-test.iam.gserviceaccount.com"]
  target_service_accounts = ["nodes@portsync-test.iam.gserviceaccount.com"]

  allow {
    protocol = "tcp"
    ports    = ["30000-32767"]
  }
}

import {
  to = google_compute_firewall.prod_gcp_portsync_1a2b3c_worker_tcp_0dd4_86dc5d7e
  id = "projects/portsync-test/global/firewalls/portsync-1a2b3c-worker-tcp-0dd4"
}
