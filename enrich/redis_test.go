package enrich

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// TestRedisAuth: against a real Redis that requires a password, INFO is read with the
// right one, and the wrong one is an error quoting the server, never the password.
func TestRedisAuth(t *testing.T) {
	addr, _ := testenv.Redis(t)
	out, err := redisInfo(context.Background(), addr, "", []string{"server"}, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, out, "redis_version:")
	_, err = redisInfo(context.Background(), addr, "", []string{"nosuchsection", "server"}, 5*time.Second)
	require.NoError(t, err, "sections Redis does not know are left out, not refused")

	// CONFIG SET requirepass, over the protocol itself.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = c.Write(appendCommand(nil, "CONFIG", "SET", "requirepass", "s3cret-pw"))
	require.NoError(t, err)
	ok, err := readReply(bufio.NewReader(c))
	require.NoError(t, err)
	require.Equal(t, "OK", ok)
	c.Close()

	got, err := readRedis(context.Background(), &RedisConfig{Addr: addr, Password: secret.Secret("s3cret-pw"), Timeout: 5 * time.Second})
	require.NoError(t, err)
	require.NotEmpty(t, got["redis_version"])
	_, err = readRedis(context.Background(), &RedisConfig{Addr: addr, Password: secret.Secret("wrong-pw"), Timeout: 5 * time.Second})
	require.ErrorContains(t, err, "redis info: auth: server answered: WRONGPASS")
	require.NotContains(t, err.Error(), "wrong-pw")
	_, err = readRedis(context.Background(), &RedisConfig{Addr: addr, Timeout: 5 * time.Second})
	require.ErrorContains(t, err, "NOAUTH")
}

// TestRedisInfoOddServers: a server that answers what Redis would not, too much, or
// nothing at all, is an error within the timeout.
func TestRedisInfoOddServers(t *testing.T) {
	for _, tc := range []struct{ name, answer, want string }{
		{"not RESP", "HTTP/1.1 400 Bad Request\r\n", "not a Redis answer"},
		{"huge bulk", "$999999999\r\n", "bulk length"},
		{"cut short", "$10\r\nabc", "EOF"},
		{"no CRLF after the bulk", "$3\r\nabcXY", "not ended by CRLF"},
		{"silent", "", "i/o timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				// The whole request first: closing on a client still writing resets it.
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == "memory\r\n" {
						break
					}
				}
				_, _ = c.Write([]byte(tc.answer))
				if tc.answer != "" {
					return
				}
				_, _ = r.ReadString(0) // until the client gives up
			}()
			_, err = redisInfo(context.Background(), ln.Addr().String(), "", redisSections, 200*time.Millisecond)
			require.ErrorContains(t, err, tc.want)
			<-done
		})
	}
}

// FuzzRedisReply: any bytes from a server are an answer or an error, never a panic,
// and a bulk answer is what its length says.
func FuzzRedisReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR wrong\r\n", "$5\r\nhello\r\n", "$-1\r\n", "$0\r\n\r\n", "*1\r\n", "$1048577\r\n", ":1\r\n", "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readReply(bufio.NewReader(strings.NewReader(string(b))))
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == '$' {
			head, _, _ := strings.Cut(string(b[1:]), "\n")
			n, _ := strconv.Atoi(strings.TrimSuffix(head, "\r"))
			require.Equal(t, max(n, 0), len(s), "as long as the answer says")
			require.LessOrEqual(t, len(s), maxInfoBytes)
		}
	})
}
