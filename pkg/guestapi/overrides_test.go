package guestapi

import (
	"encoding/json"
	"testing"
)

func TestOverridesKeepNumbersExact(t *testing.T) {
	var a UpdateOverridesArgs
	if err := json.Unmarshal([]byte(`{"overrides": {"max_connections": 555, "myisam_sort_buffer_size": 18446744073709551615, "long_query_time": 0.5, "general_log": true, "sql_mode": "STRICT_ALL_TABLES"}, "remove": false}`), &a); err != nil {
		t.Fatal(err)
	}
	got, err := OverrideValues(a.Overrides)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"max_connections": "555", "myisam_sort_buffer_size": "18446744073709551615", "long_query_time": "0.5",
		"general_log": "1", "sql_mode": "STRICT_ALL_TABLES"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	var p PrepareArgs
	if err := json.Unmarshal([]byte(`{"memory_mb": 512, "overrides": {"x": 18446744073709551615}}`), &p); err != nil || p.MemoryMB != 512 || p.Overrides["x"] != json.Number("18446744073709551615") {
		t.Fatalf("prepare %+v %v", p, err)
	}
}

func TestOverrideValuesRefuse(t *testing.T) {
	for _, bad := range []map[string]any{
		{"a\nb": 1}, {"1abc": 1}, {"x": "it's"}, {"x": "a\nb"}, {"x": "a#b"}, {"x": []any{1}}, {"x": json.Number("0x10")},
	} {
		if _, err := OverrideValues(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
