// Command lwp-peer-go runs lwp's perf workloads written as idiomatic Go:
// goroutines for processes, channels for mailboxes.  See ../README.md.
//
//	lwp-peer-go -b NAME [-s SCHEDULERS] [-n SCALE]
//
// Each figure is printed on stdout as
//
//	RESULT <figure> <value> <unit> <ops>
//
// followed, for the workloads that measure a latency distribution, by
//
//	SAMPLES <figure> <unit> <value>...
//
// and everything else goes to stderr.  A failed self-check exits with 1.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	figure string
	value  float64
	unit   string
	ops    int64
}

// distribution is a workload's latency samples, in the unit of figure.
type distribution struct {
	figure, unit string
	v            []float64
}

// maxLat is the most latency samples a workload reports.
const maxLat = 1000

type config struct {
	scale  float64
	scheds int
	// latency is set by the workloads that measure a distribution.
	latency *distribution
}

type workload struct {
	name string
	run  func(c *config) ([]result, error)
}

var workloads = []workload{
	{"switch", benchSwitch},
	{"spawn-exit", benchSpawnExit},
	{"spawn", benchSpawn},
	{"ring", func(c *config) ([]result, error) { return benchRing(c, "ring", 10000) }},
	{"ring100k", func(c *config) ([]result, error) { return benchRing(c, "ring100k", 100000) }},
	{"pingpong", func(c *config) ([]result, error) { return benchPingpong(c, "pingpong") }},
	{"pingpong-x", benchPingpongX},
	{"skynet", benchSkynet},
	{"fanin", benchFanin},
	{"fairness", benchFairness},
	{"selective", benchSelective},
	{"timers", benchTimers},
	{"idle-rss", benchIdle},
}

// scaled is n times the scale, rounded, at least 1 (as lwp-bench does it).
func scaled(scale float64, n int64) int64 {
	v := float64(n)*scale + 0.5
	if v < 1 {
		return 1
	}
	return int64(v)
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func perOp(d time.Duration, ops int64) float64 {
	return float64(d.Nanoseconds()) / float64(ops)
}

// quantile is the q-quantile of v (sorted in place), picked as lwp-bench
// picks it: the element at round(q * (n - 1)).
func quantile(v []float64, q float64) float64 {
	sort.Float64s(v)
	return v[int(q*float64(len(v)-1)+0.5)]
}

// ---- switch: two goroutines yielding to each other ------------------------

func benchSwitch(c *config) ([]result, error) {
	n := scaled(c.scale, 10000000) &^ 1
	if n < 2 {
		n = 2
	}
	var done atomic.Bool
	started := make(chan struct{})
	go func() {
		close(started)
		for !done.Load() {
			runtime.Gosched()
		}
	}()
	<-started
	t0 := time.Now()
	for i := int64(0); i < n/2; i++ {
		runtime.Gosched() // to the partner, which yields back
	}
	elapsed := time.Since(t0)
	done.Store(true)
	return []result{{"switch", perOp(elapsed, n), "ns/switch", n}}, nil
}

// ---- spawn-exit, spawn: a million short-lived goroutines ------------------

func exitAtOnce(wg *sync.WaitGroup) {
	wg.Done()
}

func benchSpawnExit(c *config) ([]result, error) {
	n := scaled(c.scale, 1000000)
	var wg sync.WaitGroup
	wg.Add(int(n))
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go exitAtOnce(&wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	return []result{{"spawn-exit", perOp(elapsed, n), "ns/spawn+exit", n}}, nil
}

func benchSpawn(c *config) ([]result, error) {
	n := scaled(c.scale, 1000000)
	// The parent's mailbox: room for every child's message, so that a
	// child never waits for the parent before it exits.
	mbox := make(chan struct{}, n)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			mbox <- struct{}{}
		}()
	}
	for i := int64(0); i < n; i++ {
		<-mbox
	}
	elapsed := time.Since(t0)
	return []result{{"spawn", perOp(elapsed, n), "ns/process", n}}, nil
}

// ---- ring: a token passed around a ring of goroutines ---------------------

// ringNode passes the token (the hops left) on, or tells done when it has
// gone round enough; it ends when its channel is closed.
func ringNode(in <-chan int64, next chan<- int64, done chan<- struct{}, ready *sync.WaitGroup) {
	ready.Done()
	for left := range in {
		if left == 0 {
			done <- struct{}{}
			continue
		}
		next <- left - 1
	}
}

func benchRing(c *config, name string, size int) ([]result, error) {
	hops := scaled(c.scale, 1000000)
	nodes := make([]chan int64, size)
	for i := range nodes {
		nodes[i] = make(chan int64)
	}
	done := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(size)
	for i := range nodes {
		go ringNode(nodes[i], nodes[(i+1)%size], done, &ready)
	}
	ready.Wait()
	t0 := time.Now()
	nodes[0] <- hops
	<-done
	elapsed := time.Since(t0)
	for _, ch := range nodes {
		close(ch)
	}
	return []result{{name, perOp(elapsed, hops), "ns/hop", hops}}, nil
}

// ---- pingpong: round trips between two goroutines -------------------------

// pong sends back what it receives until ping is closed.
func pong(ping <-chan int64, reply chan<- int64) {
	for v := range ping {
		reply <- v
	}
}

// roundTrip sends v and waits for it to come back.
func roundTrip(ping chan<- int64, reply <-chan int64, v int64) error {
	ping <- v
	if got := <-reply; got != v {
		return fmt.Errorf("WRONG REPLY %d, want %d", got, v)
	}
	return nil
}

func benchPingpong(c *config, name string) ([]result, error) {
	n := scaled(c.scale, 1000000)
	ping, reply := make(chan int64), make(chan int64)
	go pong(ping, reply)
	defer close(ping)
	if err := roundTrip(ping, reply, -1); err != nil { // pong is running
		return nil, err
	}
	// In batches of n / maxLat: each batch's time per round trip is one
	// latency sample (reading the clock at every round trip would add a
	// good part of what it measures).
	batch := n / maxLat
	if batch < 1 {
		batch = 1
	}
	lat := make([]float64, 0, maxLat)
	t0 := time.Now()
	t := t0
	for i := int64(0); i < n; {
		first, end := i, i+batch
		if end > n {
			end = n
		}
		for ; i < end; i++ {
			if err := roundTrip(ping, reply, i); err != nil {
				return nil, err
			}
		}
		now := time.Now()
		if len(lat) < maxLat {
			lat = append(lat, float64(now.Sub(t).Nanoseconds())/float64(end-first))
		}
		t = now
	}
	elapsed := time.Since(t0)
	c.latency = &distribution{name, "ns/round-trip", lat}
	return []result{{name, perOp(elapsed, n), "ns/round-trip", n}}, nil
}

// Goroutines cannot be pinned: with 2 or more Ps this is pingpong's code,
// and the scheduler decides where the two run.
func benchPingpongX(c *config) ([]result, error) {
	if c.scheds < 2 {
		fmt.Fprintln(os.Stderr, "lwp-peer-go: pingpong-x: skipped: needs 2 schedulers")
		return nil, nil
	}
	return benchPingpong(c, "pingpong-x")
}

// ---- skynet: a tree of a million leaves, 10 children a node ---------------

const skynetFanout = 10

// skynet sends out the sum of num .. num + size - 1: its own number for a
// leaf, else the sum of its children's sums.
func skynet(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	sums := make(chan int64, skynetFanout)
	step := size / skynetFanout
	for i := int64(0); i < skynetFanout; i++ {
		go skynet(sums, num+i*step, step)
	}
	var sum int64
	for i := 0; i < skynetFanout; i++ {
		sum += <-sums
	}
	out <- sum
}

func benchSkynet(c *config) ([]result, error) {
	want := scaled(c.scale, 1000000)
	leaves := int64(skynetFanout) // a whole tree: rounded down to a power of 10
	for leaves*skynetFanout <= want {
		leaves *= skynetFanout
	}
	nodes := (skynetFanout*leaves - 1) / (skynetFanout - 1)
	out := make(chan int64, 1)
	t0 := time.Now()
	go skynet(out, 0, leaves)
	sum := <-out
	elapsed := time.Since(t0)
	if expect := leaves * (leaves - 1) / 2; sum != expect {
		return nil, fmt.Errorf("WRONG RESULT %d, want %d", sum, expect)
	}
	return []result{{"skynet", float64(elapsed.Nanoseconds()) / 1e6, "ms", nodes}}, nil
}

// ---- fanin: many senders, one receiver ------------------------------------

const (
	fanInSenders = 1000
	// The receiver's channel buffer: lwp's and Erlang's mailboxes are
	// unbounded, so senders are not made to wait for every message.
	fanInBuffer = 4096
)

type fanInMsg struct {
	sender, seq int64
}

func benchFanin(c *config) ([]result, error) {
	per := scaled(c.scale, 1000)
	total := fanInSenders * per
	in := make(chan fanInMsg, fanInBuffer)
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(fanInSenders)
	for s := int64(0); s < fanInSenders; s++ {
		go func(sender int64) {
			ready.Done()
			<-start // all start together
			for seq := int64(0); seq < per; seq++ {
				in <- fanInMsg{sender, seq}
			}
		}(s)
	}
	next := make([]int64, fanInSenders) // per sender: the sequence number due
	ready.Wait()
	t0 := time.Now()
	close(start)
	for i := int64(0); i < total; i++ {
		m := <-in
		if m.sender < 0 || m.sender >= fanInSenders || m.seq != next[m.sender] {
			return nil, fmt.Errorf("WRONG ORDER: sender %d sequence %d", m.sender, m.seq)
		}
		next[m.sender]++
	}
	elapsed := time.Since(t0)
	for s, got := range next {
		if got != per {
			return nil, fmt.Errorf("WRONG COUNT: sender %d: %d messages, want %d", s, got, per)
		}
	}
	if len(in) != 0 {
		return nil, fmt.Errorf("WRONG COUNT: %d extra", len(in))
	}
	rate := float64(total) * 1e3 / float64(elapsed.Nanoseconds())
	return []result{{"fanin", rate, "M msg/s", total}}, nil
}

// ---- fairness: round trips and sleeps among goroutines that never yield ---

const fairHogs = 4

func benchFairness(c *config) ([]result, error) {
	n := scaled(c.scale, 1000)
	var stop atomic.Bool
	for i := 0; i < fairHogs; i++ {
		go func() {
			// No call into the runtime: only asynchronous
			// preemption takes the P away.
			for !stop.Load() {
			}
		}()
	}
	defer stop.Store(true)
	ping, reply := make(chan int64), make(chan int64)
	go pong(ping, reply)
	defer close(ping)
	time.Sleep(5 * time.Millisecond) // the hogs spread over the Ps
	rtt := make([]float64, n)
	slept := make([]float64, n)
	for i := int64(0); i < n; i++ {
		t0 := time.Now()
		if err := roundTrip(ping, reply, i); err != nil {
			return nil, err
		}
		t1 := time.Now()
		time.Sleep(time.Millisecond)
		rtt[i] = float64(t1.Sub(t0).Nanoseconds())
		slept[i] = float64(time.Since(t1).Nanoseconds())
	}
	results := []result{
		{"fair-rtt-p50", quantile(rtt, 0.50) / 1e3, "us", n},
		{"fair-rtt-p99", quantile(rtt, 0.99) / 1e3, "us", n},
		{"fair-sleep-p50", quantile(slept, 0.50) / 1e6, "ms", n},
		{"fair-sleep-p99", quantile(slept, 0.99) / 1e6, "ms", n},
	}
	// The distribution: evenly spaced order statistics of the sorted rtt.
	lat := make([]float64, min64(n, maxLat))
	for k := range lat {
		lat[k] = rtt[int64(k)*n/int64(len(lat))] / 1e3
	}
	c.latency = &distribution{"fair-rtt-p50", "us", lat}
	return results, nil
}

// ---- selective: picking one message out of a long mailbox -----------------

const (
	kindNoise = iota
	kindWanted
)

type message struct {
	kind int
	n    int64
}

// mailbox is a channel with Erlang's selective receive on top: messages
// taken from the channel that did not match wait, in order, in saved.
type mailbox struct {
	ch    chan message
	saved []message
}

// receiveKind returns the first message of the kind, leaving the others in
// the order they came.
func (mb *mailbox) receiveKind(kind int) message {
	for i, m := range mb.saved {
		if m.kind == kind {
			mb.saved = append(mb.saved[:i], mb.saved[i+1:]...)
			return m
		}
	}
	for {
		m := <-mb.ch
		if m.kind == kind {
			return m
		}
		mb.saved = append(mb.saved, m)
	}
}

// flush drops every message waiting and says how many there were.
func (mb *mailbox) flush() int {
	n := len(mb.saved)
	mb.saved = mb.saved[:0]
	for {
		select {
		case <-mb.ch:
			n++
		default:
			return n
		}
	}
}

const selectiveNoise = 10000

func benchSelective(c *config) ([]result, error) {
	rounds := scaled(c.scale, 100)
	mb := &mailbox{ch: make(chan message, selectiveNoise+1)}
	var elapsed time.Duration
	for r := int64(0); r < rounds; r++ {
		for i := int64(0); i < selectiveNoise; i++ {
			mb.ch <- message{kindNoise, i}
		}
		mb.ch <- message{kindWanted, r}
		t0 := time.Now()
		m := mb.receiveKind(kindWanted)
		elapsed += time.Since(t0)
		if m.n != r {
			return nil, fmt.Errorf("WRONG MESSAGE %d, want %d", m.n, r)
		}
		if left := mb.flush(); left != selectiveNoise {
			return nil, fmt.Errorf("WRONG COUNT: %d left, want %d", left, selectiveNoise)
		}
	}
	return []result{{"selective", perOp(elapsed, rounds), "ns/receive", rounds}}, nil
}

// ---- timers: many receives with a timeout at once -------------------------

const timerWait = 10 * time.Millisecond

// timerProc waits, once started, for a message that never comes, for
// timerWait, and reports how late the timeout fired.
func timerProc(ready *sync.WaitGroup, start <-chan struct{}, lates chan<- time.Duration) {
	mbox := make(chan struct{}) // its mailbox: nobody sends to it
	ready.Done()
	<-start
	deadline := time.Now().Add(timerWait)
	t := time.NewTimer(timerWait)
	select {
	case <-mbox:
		t.Stop()
	case <-t.C:
	}
	lates <- time.Since(deadline)
}

func benchTimers(c *config) ([]result, error) {
	n := scaled(c.scale, 100000)
	start := make(chan struct{})
	lates := make(chan time.Duration, n)
	var ready sync.WaitGroup
	ready.Add(int(n))
	for i := int64(0); i < n; i++ {
		go timerProc(&ready, start, lates)
	}
	ready.Wait()
	late := make([]float64, n)
	t0 := time.Now()
	close(start)
	for i := range late {
		late[i] = float64((<-lates).Nanoseconds())
	}
	elapsed := time.Since(t0)
	for _, v := range late {
		if v < 0 {
			return nil, fmt.Errorf("WRONG TIMEOUT: fired %.0f ns early", -v)
		}
	}
	return []result{
		{"timer-late-p50", quantile(late, 0.50) / 1e3, "us", n},
		{"timer-late-p99", quantile(late, 0.99) / 1e3, "us", n},
		{"timer-cost", perOp(elapsed-timerWait, n), "ns/timer", n},
	}, nil
}

// ---- idle-rss: memory of goroutines blocked in receive --------------------

// vmStatus reads a field of /proc/self/status, in bytes.
func vmStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

func idleProc(mbox <-chan struct{}, ready *sync.WaitGroup) {
	ready.Done()
	<-mbox
}

func benchIdle(c *config) ([]result, error) {
	n := scaled(c.scale, 1000000)
	mboxes := make([]chan struct{}, n)
	for i := range mboxes { // in the RSS before and after
		mboxes[i] = nil
	}
	var ready sync.WaitGroup
	ready.Add(int(n))
	rss0, err := vmStatus("VmRSS")
	if err != nil {
		return nil, err
	}
	pte0, err := vmStatus("VmPTE")
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	for i := range mboxes {
		mboxes[i] = make(chan struct{})
		go idleProc(mboxes[i], &ready)
	}
	ready.Wait()
	elapsed := time.Since(t0)
	time.Sleep(time.Millisecond) // the last ones block
	rss1, err := vmStatus("VmRSS")
	if err != nil {
		return nil, err
	}
	pte1, err := vmStatus("VmPTE")
	if err != nil {
		return nil, err
	}
	for _, ch := range mboxes {
		close(ch)
	}
	return []result{
		{"idle-rss", float64(rss1-rss0) / float64(n), "bytes/proc", n},
		{"idle-pte", float64(pte1-pte0) / float64(n), "bytes/proc", n},
		{"idle-setup", perOp(elapsed, n), "ns/proc", n},
	}, nil
}

// ---- main -----------------------------------------------------------------

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lwp-peer-go -b NAME [-s SCHEDULERS] [-n SCALE] | -l")
	os.Exit(2)
}

func main() {
	name := flag.String("b", "", "the workload to run")
	scheds := flag.Int("s", 1, "schedulers (GOMAXPROCS)")
	scale := flag.Float64("n", 1, "multiplies every operation count")
	list := flag.Bool("l", false, "list the workloads")
	flag.Usage = usage
	flag.Parse()
	if *list {
		for _, w := range workloads {
			fmt.Println(w.name)
		}
		return
	}
	if *name == "" || *scheds < 1 || !(*scale > 0) || flag.NArg() != 0 {
		usage()
	}
	var run func(c *config) ([]result, error)
	for _, w := range workloads {
		if w.name == *name {
			run = w.run
		}
	}
	if run == nil {
		fmt.Fprintf(os.Stderr, "lwp-peer-go: no workload %q (-l lists them)\n", *name)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*scheds)
	c := &config{scale: *scale, scheds: *scheds}
	results, err := run(c)
	if err == nil && runtime.GOMAXPROCS(0) != *scheds {
		err = errors.New("GOMAXPROCS is not what was asked")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lwp-peer-go: %s: %v\n", *name, err)
		os.Exit(1)
	}
	for _, r := range results {
		fmt.Printf("RESULT %s %.3f %s %d\n", r.figure, r.value, r.unit, r.ops)
	}
	if d := c.latency; d != nil {
		fmt.Printf("SAMPLES %s %s", d.figure, d.unit)
		for _, v := range d.v {
			fmt.Printf(" %.6g", v)
		}
		fmt.Println()
	}
}
