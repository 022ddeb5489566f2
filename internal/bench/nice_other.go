//go:build !linux

package bench

import "errors"

func setNice(pid, nice int) error { return errors.New("niceness is set only on Linux") }
