resource "aws_vpc_security_group_ingress_rule" "prod_aws_control_plane_ingress_tcp_6443_cb8abd6d" {
  security_group_id = "sg-0cp"
  ip_protocol       = "tcp"
  from_port         = 6443
  to_port           = 6443
  cidr_ipv4         = "203.0.113.0/24"
  description       = "[portsync] Kubernetes API server"
  tags = {
    "portsync:owner" = "prod-aws"
  }
}

import {
  to = aws_vpc_security_group_ingress_rule.prod_aws_control_plane_ingress_tcp_6443_cb8abd6d
  id = "sgr-0a1"
}

resource "aws_vpc_security_group_ingress_rule" "prod_aws_control_plane_ingress_tcp_2379_2380_0399cbc9" {
  security_group_id            = "sg-0cp"
  ip_protocol                  = "tcp"
  from_port                    = 2379
  to_port                      = 2380
  referenced_security_group_id = "sg-0node"
  description                  = "[portsync] etcd \"peer\" \\ $${var.secret} %%{ if true }\nsecond line"
  tags = {
    "portsync:owner" = "prod-aws"
  }
}

import {
  to = aws_vpc_security_group_ingress_rule.prod_aws_control_plane_ingress_tcp_2379_2380_0399cbc9
  id = "sgr-0a2"
}

resource "aws_vpc_security_group_ingress_rule" "prod_aws_control_plane_ingress_icmpv6_type_128_8610f7f4" {
  security_group_id = "sg-0cp"
  ip_protocol       = "icmpv6"
  from_port         = 128
  to_port           = -1
  cidr_ipv6         = "2001:db8::/32"
  description       = "[portsync] ping"
  tags = {
    "portsync:owner" = "prod-aws"
  }
}

import {
  to = aws_vpc_security_group_ingress_rule.prod_aws_control_plane_ingress_icmpv6_type_128_8610f7f4
  id = "sgr-0a3"
}

resource "aws_vpc_security_group_egress_rule" "prod_aws_control_plane_egress_all_all_f7ba511d" {
  security_group_id = "sg-0cp"
  ip_protocol       = "-1"
  prefix_list_id    = "pl-0123"
  tags = {
    "portsync:owner" = "prod-aws"
  }
}

import {
  to = aws_vpc_security_group_egress_rule.prod_aws_control_plane_egress_all_all_f7ba511d
  id = "sgr-0a4"
}

resource "aws_vpc_security_group_ingress_rule" "prod_aws_worker_ingress_esp_all_d9291056" {
  security_group_id = "sg-0node"
  ip_protocol       = "50"
  cidr_ipv4         = "10.0.0.0/8"
}

import {
  to = aws_vpc_security_group_ingress_rule.prod_aws_worker_ingress_esp_all_d9291056
  id = "sgr-0b1"
}

resource "aws_vpc_security_group_ingress_rule" "prod_aws_worker_ingress_icmp_all_dcde9783" {
  security_group_id = "sg-0node"
  ip_protocol       = "icmp"
  from_port         = -1
  to_port           = -1
  cidr_ipv4         = "10.0.0.0/8"
  description       = "[portsync] every ICMP type"
}

import {
  to = aws_vpc_security_group_ingress_rule.prod_aws_worker_ingress_icmp_all_dcde9783
  id = "sgr-0b2"
}
