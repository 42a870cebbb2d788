package api

import (
	"encoding/json"
	"strconv"
	"sync"
)

// The instance list is the API's hottest response: encoding/json's reflection over instanceView was ~14% of
// trove-api's CPU per list (BenchmarkAPI profile). appendJSON writes the same bytes as json.Marshal (same key
// order, omitempty rules and escaping; viewjson_test.go compares both) for the common fields and hands the rare
// ones (fault, extra volume keys, non-trivial access …) and any string that needs escaping to
// encoding/json, which is byte-identical by construction.

// appendJSONString appends s as a JSON string: plain printable ASCII directly, anything else (quotes,
// backslashes, HTML-escaped <>&, control characters, non-ASCII) through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendMarshal(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMarshal appends json.Marshal(v). The values passed here (strings, views and RawMessages) always encode.
func appendMarshal(b []byte, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		// Only a RawMessage holding invalid JSON can fail; renderInstance validates them before use.
		return append(b, "null"...)
	}
	return append(b, data...)
}

func appendLinks(b []byte, ls []link) []byte {
	if ls == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"href":`...)
		b = appendJSONString(b, ls[i].Href)
		b = append(b, `,"rel":`...)
		b = appendJSONString(b, ls[i].Rel)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendJSONString(b, s)
}

// appendJSON appends v as json.Marshal(v) would.
func (v *instanceView) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, v.Name)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, v.Status)
	b = append(b, `,"operating_status":`...)
	b = appendJSONString(b, v.OperatingStatus)
	b = append(b, `,"links":`...)
	b = appendLinks(b, v.Links)
	b = append(b, `,"flavor":{"id":`...)
	b = appendJSONString(b, v.Flavor.ID)
	b = append(b, `,"links":`...)
	b = appendLinks(b, v.Flavor.Links)
	b = append(b, `},"datastore":{"type":`...)
	b = appendOptPointer(b, v.Datastore.Type)
	b = append(b, `,"version":`...)
	b = appendOptPointer(b, v.Datastore.Version)
	if v.Datastore.VersionNumber != nil {
		b = append(b, `,"version_number":`...)
		b = appendJSONString(b, *v.Datastore.VersionNumber)
	}
	b = append(b, `},"region":`...)
	b = appendJSONString(b, v.Region)
	b = append(b, `,"access":`...)
	if string(v.Access) == "{}" {
		b = append(b, "{}"...)
	} else {
		b = appendMarshal(b, v.Access)
	}
	if v.Volume != nil {
		b = append(b, `,"volume":`...)
		if v.Volume.Used == nil && v.Volume.UsedPercent == nil && len(v.Volume.Extra) == 0 {
			b = append(b, `{"size":`...)
			b = strconv.AppendInt(b, int64(v.Volume.Size), 10)
			b = append(b, '}')
		} else {
			b = appendMarshal(b, v.Volume)
		}
	}
	b = appendOptString(b, `,"hostname":`, v.Hostname)
	if len(v.IP) > 0 {
		b = append(b, `,"ip":[`...)
		for i, ip := range v.IP {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, ip)
		}
		b = append(b, ']')
	}
	if len(v.Addresses) > 0 {
		b = append(b, `,"addresses":[`...)
		for i := range v.Addresses {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"address":`...)
			b = appendJSONString(b, v.Addresses[i].Address)
			b = append(b, `,"type":`...)
			b = appendJSONString(b, v.Addresses[i].Type)
			b = appendOptString(b, `,"network":`, v.Addresses[i].Network)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if v.ReplicaOf != nil {
		b = append(b, `,"replica_of":{"id":`...)
		b = appendJSONString(b, v.ReplicaOf.ID)
		b = append(b, `,"links":`...)
		b = appendLinks(b, v.ReplicaOf.Links)
		b = append(b, '}')
	}
	b = appendOptString(b, `,"tenant_id":`, v.TenantID)
	b = appendOptString(b, `,"created":`, v.Created)
	b = appendOptString(b, `,"updated":`, v.Updated)
	b = appendOptString(b, `,"service_status_updated":`, v.ServiceStatusUpdated)
	if v.Fault != nil {
		b = append(b, `,"fault":`...)
		b = appendMarshal(b, v.Fault)
	}
	if v.Configuration != nil {
		b = append(b, `,"configuration":`...)
		b = appendMarshal(b, v.Configuration)
	}
	b = appendOptString(b, `,"cluster_id":`, v.ClusterID)
	b = appendOptString(b, `,"shard_id":`, v.ShardID)
	if len(v.ServerID) > 0 {
		b = append(b, `,"server_id":`...)
		b = appendMarshal(b, v.ServerID)
	}
	if len(v.VolumeID) > 0 {
		b = append(b, `,"volume_id":`...)
		b = appendMarshal(b, v.VolumeID)
	}
	if v.EncryptedRPC != nil {
		if *v.EncryptedRPC {
			b = append(b, `,"encrypted_rpc_messaging":true`...)
		} else {
			b = append(b, `,"encrypted_rpc_messaging":false`...)
		}
	}
	b = appendOptString(b, `,"password":`, v.Password)
	return append(b, '}')
}

func appendOptPointer(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// appendInstanceList appends {"instances": [view(0) … view(n-1)], "links": [...]} (links omitted when empty), as
// json.Marshal of the list handler's body; views are rendered one at a time, never held as a slice.
func appendInstanceList(b []byte, n int, view func(i int) instanceView, links []link) []byte {
	b = append(b, `{"instances":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		v := view(i)
		b = v.appendJSON(b)
	}
	b = append(b, ']')
	if len(links) > 0 {
		b = append(b, `,"links":`...)
		b = appendLinks(b, links)
	}
	return append(b, '}')
}

// bodyBuffers recycles response buffers of list pages; buffers that grew past maxPooledBody are dropped so a
// rare huge page does not stay resident.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledBody = 256 << 10

func getBody() *[]byte { return bodyBuffers.Get().(*[]byte) }

func putBody(b *[]byte) {
	if cap(*b) > maxPooledBody {
		return
	}
	*b = (*b)[:0]
	bodyBuffers.Put(b)
}
