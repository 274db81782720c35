package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/internal/termtext"
)

// newLogger builds cowbell's own log on stderr, at level (which a reload changes).
func newLogger(c config.Log, level zap.AtomicLevel) (*zap.Logger, error) {
	return newLoggerTo(c, level, zapcore.Lock(os.Stderr))
}

// newLoggerTo builds cowbell's log writing to w: levelled, ISO 8601 times, console or
// JSON, unsampled (every line counts), every string cleaned of terminal controls. It
// adds no stack traces: an Error entry (a dead letter, an incident not spooled) says
// what failed and why in its fields, and a Go stack of the goroutine that logged it
// would bury that on every dead letter.
func newLoggerTo(c config.Log, level zap.AtomicLevel, w zapcore.WriteSyncer) (*zap.Logger, error) {
	l, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	level.SetLevel(l)
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if c.Format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(cleanEncoder{enc}, w, level), zap.AddCaller(), zap.ErrorOutput(w)), nil
}

// nopLogger is for one-shot commands whose output is their answer.
func nopLogger() *zap.Logger { return zap.NewNop() }

// cleanEncoder cleans every string of an entry (the message, string fields, errors)
// with termtext.Clean before the wrapped encoder writes it: incident keys, captures,
// log lines at Debug and endpoints' answers are untrusted text, and neither encoder
// stops a DEL or a C1 control (U+009B is CSI to some terminals).
type cleanEncoder struct{ zapcore.Encoder }

func (e cleanEncoder) Clone() zapcore.Encoder { return cleanEncoder{e.Encoder.Clone()} }

func (e cleanEncoder) AddString(key, val string) { e.Encoder.AddString(key, termtext.Clean(val)) }

func (e cleanEncoder) AddByteString(key string, val []byte) {
	e.Encoder.AddString(key, termtext.Clean(string(val)))
}

func (e cleanEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	ent.Message = termtext.Clean(ent.Message)
	for i, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			fields[i].String = termtext.Clean(f.String)
		case zapcore.ByteStringType:
			if b, ok := f.Interface.([]byte); ok {
				fields[i] = zap.String(f.Key, termtext.Clean(string(b)))
			}
		case zapcore.StringerType:
			if s, ok := f.Interface.(fmt.Stringer); ok && s != nil {
				fields[i] = zap.String(f.Key, termtext.Clean(s.String()))
			}
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok && err != nil {
				fields[i] = zap.String(f.Key, termtext.Clean(err.Error()))
			}
		}
	}
	return e.Encoder.EncodeEntry(ent, fields)
}
