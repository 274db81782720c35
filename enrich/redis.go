package enrich

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// The snapshot asks Redis one thing, INFO, over a connection of its own. RESP, the
// protocol, takes a few lines for that: a command is an array of bulk strings, an
// answer a status ("+OK"), an error ("-ERR ...") or a bulk string ("$n" and n bytes).
// The client library this replaces (go-redis) was 4.3 MB of cowbell's 30 MB binary,
// all of it mapped into every cowbell's memory, for this one command.

// maxInfoBytes bounds an INFO answer (a real one is a few KiB): a server that is not
// Redis must not make cowbell allocate at will.
const maxInfoBytes = 1 << 20

// redisInfo dials addr, authenticates with password when it is set, and returns the
// answer to INFO with sections. The connection is bounded by ctx and timeout.
func redisInfo(ctx context.Context, addr, password string, sections []string, timeout time.Duration) (string, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req []byte
	if password != "" {
		req = appendCommand(req, "AUTH", password)
	}
	req = appendCommand(req, append([]string{"INFO"}, sections...)...)
	if _, err := conn.Write(req); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := readReply(r); err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
	}
	return readReply(r)
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// errRESP is an answer that is not what RESP says an answer is.
var errRESP = errors.New("not a Redis answer")

// readReply reads one answer: a status or a bulk string is returned, an error answer
// is an error (its text, which is the server's and names no secret).
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errRESP
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("server answered: %s", truncate(line[1:], 200))
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > maxInfoBytes {
			return "", fmt.Errorf("%w: bulk length %q", errRESP, truncate(line[1:], 20))
		}
		if n == -1 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		if string(b[n:]) != "\r\n" {
			return "", fmt.Errorf("%w: bulk string not ended by CRLF", errRESP)
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("%w: %q", errRESP, truncate(line, 20))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
