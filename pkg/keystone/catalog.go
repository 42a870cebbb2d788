package keystone

import (
	"encoding/json"
	"fmt"
)

// catalogEntry is one service of a token's catalog (Keystone v3).
type catalogEntry struct {
	Type      string `json:"type"`
	Endpoints []struct {
		Interface string `json:"interface"`
		Region    string `json:"region"`
		RegionID  string `json:"region_id"`
		URL       string `json:"url"`
	} `json:"endpoints"`
}

// ServiceURL finds a service's endpoint in a token's catalog (Token.Catalog, or an RPC context's
// service_catalog): type e.g. "object-store", iface "public"/"internal"/"admin" ("" = public), region "" = any.
func ServiceURL(catalog json.RawMessage, serviceType, iface, region string) (string, error) {
	if iface == "" {
		iface = "public"
	}
	var entries []catalogEntry
	if len(catalog) == 0 || json.Unmarshal(catalog, &entries) != nil {
		return "", fmt.Errorf("the token carries no service catalog to find the %s endpoint in", serviceType)
	}
	for _, e := range entries {
		if e.Type != serviceType {
			continue
		}
		for _, ep := range e.Endpoints {
			if ep.Interface == iface && (region == "" || ep.Region == region || ep.RegionID == region) {
				return ep.URL, nil
			}
		}
	}
	return "", fmt.Errorf("no %s %s endpoint in region %q of the token's catalog: register one in Keystone (openstack endpoint create)", iface, serviceType, region)
}
