resource "azurerm_network_security_rule" "prod_azure_portsync_1a2b3c_cp_6443_b6d20f65" {
  name                        = "portsync-1a2b3c-cp-6443"
  resource_group_name         = "k8s"
  network_security_group_name = "cp-nsg"
  priority                    = 1000
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "6443"
  source_address_prefix       = "203.0.113.0/24"
  destination_address_prefix  = "10.0.1.0/24"
  description                 = "[portsync] Kubernetes API server"
}

import {
  to = azurerm_network_security_rule.prod_azure_portsync_1a2b3c_cp_6443_b6d20f65
  id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/Microsoft.Network/networkSecurityGroups/cp-nsg/securityRules/portsync-1a2b3c-cp-6443"
}

resource "azurerm_network_security_rule" "prod_azure_portsync_1a2b3c_cp_etcd_4baf710a" {
  name                        = "portsync-1a2b3c-cp-etcd"
  resource_group_name         = "k8s"
  network_security_group_name = "cp-nsg"
  priority                    = 1001
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_ranges          = ["1024-65535"]
  destination_port_range      = "2379-2380"
  source_address_prefix       = "AzureLoadBalancer"
  destination_address_prefix  = "10.0.1.0/24"
  description                 = "[portsync] etcd \"peer\" \\ $${var.secret} %%{ if true }\nsecond line"
}

import {
  to = azurerm_network_security_rule.prod_azure_portsync_1a2b3c_cp_etcd_4baf710a
  id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/Microsoft.Network/networkSecurityGroups/cp-nsg/securityRules/portsync-1a2b3c-cp-etcd"
}

resource "azurerm_network_security_rule" "prod_azure_portsync_1a2b3c_node_out_15ac1440" {
  name                        = "portsync-1a2b3c-node-out"
  resource_group_name         = "k8s"
  network_security_group_name = "node-nsg"
  priority                    = 1500
  direction                   = "Outbound"
  access                      = "Allow"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefixes     = ["10.0.2.0/24", "fd00::/64"]
  destination_address_prefix  = "10.0.0.0/8"
  description                 = "[portsync] egress"
}

import {
  to = azurerm_network_security_rule.prod_azure_portsync_1a2b3c_node_out_15ac1440
  id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/Microsoft.Network/networkSecurityGroups/node-nsg/securityRules/portsync-1a2b3c-node-out"
}

resource "azurerm_network_security_rule" "prod_azure_portsync_1a2b3c_node_vxlan_c1b5e6db" {
  name                                  = "portsync-1a2b3c-node-vxlan"
  resource_group_name                   = "k8s"
  network_security_group_name           = "node-nsg"
  priority                              = 1002
  direction                             = "Inbound"
  access                                = "Allow"
  protocol                              = "Udp"
  source_port_range                     = "*"
  destination_port_range                = "4789"
  source_application_security_group_ids = ["/subscriptions/0/resourceGroups/k8s/providers/Microsoft.Network/applicationSecurityGroups/lb"]
  destination_address_prefixes          = ["10.0.2.0/24", "fd00::/64"]
  description                           = "[portsync] vxlan"
}

import {
  to = azurerm_network_security_rule.prod_azure_portsync_1a2b3c_node_vxlan_c1b5e6db
  id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/Microsoft.Network/networkSecurityGroups/node-nsg/securityRules/portsync-1a2b3c-node-vxlan"
}
