package main

import "go.uber.org/zap"

// nopLogger is for one-shot commands whose output is their answer.
func nopLogger() *zap.Logger { return zap.NewNop() }
