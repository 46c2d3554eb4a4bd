// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package register

import (
	"fmt"
	"net/http"

	"github.com/toozgo/tooz/faults/history"
)

// serveRead handles POST /write?kind=read&...: a shared holder of a
// read/write lock showing its token. The read is accepted (200) when the
// token is at least the highest accepted write's, else refused (409); an
// accepted read's token also fences later writes (see write): a writer
// whose holding was taken over by readers is stale.
func (r *Register) serveRead(w http.ResponseWriter, proc, res string, acq int64, tok uint64) {
	r.mu.Lock()
	max := r.max[res]
	accepted := tok >= max
	if accepted && tok > r.maxRead[res] {
		r.maxRead[res] = tok
	}
	r.h.Add(history.Rec{Proc: proc, Type: history.Read, F: history.FRead, Res: res, Acq: acq, Token: tok, Accepted: accepted})
	r.mu.Unlock()
	if !accepted {
		http.Error(w, fmt.Sprintf("stale token %d < %d", tok, max), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}
