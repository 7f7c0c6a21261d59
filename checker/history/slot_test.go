package history

import "testing"

// TestKeySlot checks KeySlot against CLUSTER KEYSLOT answers captured from
// Redis 7.0.15 (the same keys as topology's golden file, which also asks a
// live node).
func TestKeySlot(t *testing.T) {
	for key, slot := range map[string]int{
		"":                          0,
		"123456789":                 12739,
		"a{}b":                      13694,
		"a}b{c}":                    7365,
		"foo":                       12182,
		"order:{customer:456}:item": 9277,
		"user:{123}:profile":        5970,
		"x{y}":                      12222,
		"{":                         4092,
		"{a}{b}":                    15495,
		"{user:123}:profile":        12893,
		"{{a}}":                     10276,
	} {
		if got := KeySlot(key); got != slot {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT said %d", key, got, slot)
		}
	}
	if KeySlot("{user:123}:profile") != KeySlot("{user:123}:cart") {
		t.Error("keys sharing a hash tag must share a slot")
	}
}
