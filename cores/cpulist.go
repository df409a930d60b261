package cores

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseList parses a CPU list such as "0", "0,1" or "0-3,6" and checks that
// every CPU in it is one this process may run on.
func ParseList(s string) ([]int, error) {
	online, err := Online()
	if err != nil {
		return nil, err
	}
	return parseList(s, online)
}

func parseList(s string, online []int) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty CPU list")
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a CPU number", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: %q is not a range", s, part)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			if !slices.Contains(online, cpu) {
				return nil, fmt.Errorf("CPU %d is not present or not allowed (usable: %s)", cpu, FormatList(online))
			}
			if slices.Contains(cpus, cpu) {
				return nil, fmt.Errorf("CPU list %q names CPU %d twice", s, cpu)
			}
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// FormatList writes cpus as a CPU list ParseList reads: "0,1,3".
func FormatList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}
