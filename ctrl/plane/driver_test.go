package plane

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Whoever reaches wait first, tickets are served in the order taken: the
// order in which VM actions were decided under p.mu.
func TestTheSequencerServesTicketsInTheOrderTaken(t *testing.T) {
	var s sequencer
	tickets := []uint64{s.take(), s.take(), s.take()}
	var mu sync.Mutex
	var order []uint64
	var wg sync.WaitGroup
	started := make(chan struct{})
	for i := len(tickets) - 1; i >= 0; i-- { // the last taken waits first
		wg.Go(func() {
			if i == len(tickets)-1 {
				close(started)
			}
			s.wait(tickets[i])
			mu.Lock()
			order = append(order, tickets[i])
			mu.Unlock()
			s.done()
		})
		if i == len(tickets)-1 {
			<-started
		}
	}
	wg.Wait()
	assert.Equal(t, tickets, order)
}
