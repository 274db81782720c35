package kmsg

// Describe implements sources.Config.
func (c Config) Describe() string { return "kernel ring buffer " + c.Path }
