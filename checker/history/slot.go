package history

// NumSlots is the number of hash slots of every Redis Cluster.
const NumSlots = 16384

// crc16tab is CRC16-CCITT (XMODEM: poly 0x1021, init 0), the checksum Redis
// Cluster uses for key slots. The table is computed once at package load.
var crc16tab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crc16tab[byte(c>>8)^s[i]]
	}
	return c
}

// KeySlot returns the hash slot of key, as CLUSTER KEYSLOT does: the CRC16
// of its hash tag (HashTag) modulo NumSlots. It lives beside the key
// spaces, in the leaf package, so that the report can name a lost key's
// slot without importing the cluster model.
func KeySlot(key string) int {
	tag, _ := HashTag(key)
	return int(crc16(tag) % NumSlots)
}
