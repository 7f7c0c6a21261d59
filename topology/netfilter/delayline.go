package netfilter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Impairment is what a delay line does to each packet: hold it for Delay ±
// Jitter (uniform), or drop it with probability Loss percent.
type Impairment struct {
	Delay  time.Duration
	Jitter time.Duration
	Loss   float64
}

// A DelayLine is netem without tc: packets go, by an iptables NFQUEUE rule
// (QueueSpec), to a queue that this process reads (nfnetlink_queue) and
// releases each packet after its delay, or drops it. It needs no qdisc
// (many kernels, this one included, lack sch_netem), works per address on a
// shared loopback, and in a container's namespace without tools in the
// image. It lives as long as this process: if the process dies, the rule's
// --queue-bypass lets packets through undelayed until the rule is removed.
type DelayLine struct {
	file  *os.File
	queue uint16
	spec  Impairment

	mu     sync.Mutex
	held   int // packets waiting for their verdict
	closed bool
	once   sync.Once
	done   chan struct{} // the reader has returned
}

// nfnetlink_queue's protocol numbers (linux/netfilter/nfnetlink_queue.h).
const (
	netlinkNetfilter   = 12
	nfqMsgPacket       = 3<<8 | 0
	nfqMsgVerdict      = 3<<8 | 1
	nfqMsgConfig       = 3<<8 | 2
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaCfgMask        = 4
	nfqaCfgFlags       = 5
	nfqCmdBind         = 1
	nfqCopyMeta        = 1
	nfqFailOpen        = 1
	nfDrop             = 0
	nfAccept           = 1
	solNetlink         = 270
	netlinkNoENOBUFS   = 5
	// delayQueueLen is how many packets a line may hold; past it the kernel
	// lets packets through undelayed (fail-open) rather than dropping them.
	delayQueueLen = 16384
)

// OpenDelayLine binds the first free queue from base on in the namespace
// netns ("" for this process's) and starts releasing its packets; Close
// undoes it.
func OpenDelayLine(netns string, base uint16, q Impairment) (*DelayLine, error) {
	fd, err := netlinkSocket(netns)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "nfqueue")
	d := &DelayLine{file: f, spec: q, done: make(chan struct{})}
	// A queue bound by another socket answers EPERM (or EBUSY): try the next.
	for i := uint16(0); i < 256; i++ {
		err = d.bind(base + i)
		if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EBUSY) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bind an nfnetlink queue (CONFIG_NETFILTER_NETLINK_QUEUE): %w", err)
	}
	go d.run()
	return d, nil
}

// netlinkSocket opens a netfilter netlink socket in netns. A socket stays
// in the namespace it was made in, so it is made on a thread that enters the
// namespace and is never used again (its goroutine exits locked, and the
// runtime ends the thread with it).
func netlinkSocket(netns string) (int, error) {
	open := func() (int, error) {
		fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, netlinkNetfilter)
		if err != nil {
			return -1, fmt.Errorf("netlink socket: %w", err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("netlink bind: %w", err)
		}
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
		syscall.SetsockoptInt(fd, solNetlink, netlinkNoENOBUFS, 1)
		return fd, nil
	}
	if netns == "" {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		ns, err := os.Open(netns)
		if err != nil {
			ch <- result{-1, fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, fmt.Errorf("enter network namespace %s: %w", netns, err)}
			return
		}
		fd, err := open()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// nlAttr encodes one netlink attribute.
func nlAttr(typ uint16, data []byte) []byte {
	n := 4 + len(data)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], data)
	return b
}

// nfqMessage encodes one nfnetlink_queue message for queue.
func nfqMessage(typ, flags uint16, seq uint32, queue uint16, attrs ...[]byte) []byte {
	body := []byte{syscall.AF_UNSPEC, 0, 0, 0} // nfgenmsg: family, version, res_id
	binary.BigEndian.PutUint16(body[2:], queue)
	for _, a := range attrs {
		body = append(body, a...)
	}
	b := make([]byte, syscall.NLMSG_HDRLEN, syscall.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(b[0:], uint32(syscall.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return append(b, body...)
}

// bind asks for queue with one config message and reads the kernel's answer.
func (d *DelayLine) bind(queue uint16) error {
	cmd := []byte{nfqCmdBind, 0, 0, syscall.AF_INET}
	params := []byte{0, 0, 0, 0, nfqCopyMeta} // copy_range 0, copy_mode META: ids only
	maxlen := binary.BigEndian.AppendUint32(nil, delayQueueLen)
	flags := binary.BigEndian.AppendUint32(nil, nfqFailOpen)
	msg := nfqMessage(nfqMsgConfig, syscall.NLM_F_REQUEST|syscall.NLM_F_ACK, uint32(queue), queue,
		nlAttr(nfqaCfgCmd, cmd), nlAttr(nfqaCfgParams, params), nlAttr(nfqaCfgQueueMaxlen, maxlen),
		nlAttr(nfqaCfgMask, flags), nlAttr(nfqaCfgFlags, flags))
	if _, err := d.file.Write(msg); err != nil {
		return fmt.Errorf("queue %d: %w", queue, err)
	}
	d.file.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer d.file.SetReadDeadline(time.Time{})
	buf := make([]byte, 8192)
	for {
		n, err := d.file.Read(buf)
		if err != nil {
			return fmt.Errorf("queue %d: no answer from the kernel: %w", queue, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("queue %d: %w", queue, err)
		}
		for _, m := range msgs {
			if m.Header.Type != syscall.NLMSG_ERROR || m.Header.Seq != uint32(queue) || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return fmt.Errorf("queue %d: %w", queue, syscall.Errno(-code))
			}
			d.queue = queue
			return nil
		}
	}
}

// run reads queued packets until the line is closed.
func (d *DelayLine) run() {
	defer close(d.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := d.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // a transient error (ENOBUFS…): packets stay queued, TCP resends
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != nfqMsgPacket || len(m.Data) < 4 {
				continue
			}
			id, ok := packetID(m.Data[4:])
			if !ok {
				continue
			}
			if d.spec.Loss > 0 && rand.Float64()*100 < d.spec.Loss {
				d.verdict(id, nfDrop, false)
				continue
			}
			hold := d.spec.Delay
			if d.spec.Jitter > 0 {
				hold += time.Duration(rand.Int64N(int64(2*d.spec.Jitter)+1)) - d.spec.Jitter
			}
			d.mu.Lock()
			d.held++
			d.mu.Unlock()
			time.AfterFunc(hold, func() { d.verdict(id, nfAccept, true) })
		}
	}
}

// packetID finds NFQA_PACKET_HDR's packet id among the attributes.
func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		n := int(binary.NativeEndian.Uint16(attrs))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & 0x3fff
		if n < 4 || n > len(attrs) {
			return 0, false
		}
		if typ == nfqaPacketHdr && n >= 8 {
			return binary.BigEndian.Uint32(attrs[4:8]), true
		}
		attrs = attrs[min((n+3)&^3, len(attrs)):]
	}
	return 0, false
}

func (d *DelayLine) verdict(id uint32, v uint32, held bool) {
	hdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, v), id)
	msg := nfqMessage(nfqMsgVerdict, syscall.NLM_F_REQUEST, 0, d.queue, nlAttr(nfqaVerdictHdr, hdr))
	d.mu.Lock()
	defer d.mu.Unlock()
	if held {
		d.held--
	}
	if !d.closed {
		d.file.Write(msg)
	}
}

// Queue is the queue number the line is bound to.
func (d *DelayLine) Queue() uint16 { return d.queue }

// Close waits (bounded) for the packets still held to be released, then
// closes the socket, which unbinds the queue. The rule feeding the line
// must be gone first, or packets arriving meanwhile are dropped.
func (d *DelayLine) Close(ctx context.Context) error {
	var err error
	d.once.Do(func() {
		wctx, cancel := context.WithTimeout(ctx, d.spec.Delay+d.spec.Jitter+time.Second)
		defer cancel()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
	wait:
		for d.holding() > 0 {
			select {
			case <-wctx.Done():
				break wait
			case <-tick.C:
			}
		}
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		err = d.file.Close()
		<-d.done
	})
	return err
}

// holding is how many packets wait for their verdict.
func (d *DelayLine) holding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held
}

// ProbeDelayLine says whether a delay line can be made here (root, and a
// kernel with nfnetlink_queue), by binding one queue and closing it.
func ProbeDelayLine() error {
	d, err := OpenDelayLine("", 0x7e00, Impairment{Delay: time.Millisecond})
	if err != nil {
		return err
	}
	return d.Close(context.Background())
}
