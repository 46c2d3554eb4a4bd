// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Capabilities returns the capabilities a Partitioner joins its group
// with: the JSON object {"weight":N}.
//
// Applications that join the group themselves can advertise a weight by
// putting a "weight" field in their own JSON object capabilities, beside
// any other fields: {"weight":2,"zone":"a"}.
func Capabilities(weight int) []byte {
	return fmt.Appendf(nil, `{"weight":%d}`, weight)
}

// WeightOf returns the weight that capabilities advertise: the "weight"
// field of a JSON object, an integer from 1 to MaxWeight. Other fields are
// ignored. Anything else (not JSON, not an object, no weight, a weight
// that is not such an integer) is an error wrapping ErrInvalidWeight; a
// Partitioner then counts the member with weight 1 and logs why.
func WeightOf(capabilities []byte) (int, error) {
	if len(capabilities) == 0 {
		return 0, fmt.Errorf("%w: capabilities are empty", ErrInvalidWeight)
	}
	var v struct {
		Weight json.RawMessage `json:"weight"`
	}
	if err := json.Unmarshal(capabilities, &v); err != nil {
		return 0, fmt.Errorf("%w: capabilities are not a JSON object: %v", ErrInvalidWeight, err)
	}
	if v.Weight == nil {
		return 0, fmt.Errorf("%w: capabilities have no \"weight\" field", ErrInvalidWeight)
	}
	f, err := strconv.ParseFloat(string(v.Weight), 64)
	if err != nil || f != math.Trunc(f) || f < 1 || f > MaxWeight {
		return 0, fmt.Errorf("%w: weight %s is not an integer from 1 to %d", ErrInvalidWeight, v.Weight, MaxWeight)
	}
	return int(f), nil
}
