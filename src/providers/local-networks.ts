// Destinations that are someone's local network, never the internet: private
// (RFC 1918), shared (RFC 6598), link-local (RFC 3927 — cloud metadata services
// live at 169.254.169.254), multicast and reserved. Sessions are kept away from
// them by both providers, except what WINUX_ALLOWED_NETWORKS opens.
export const localNetworks = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4'] as const;
