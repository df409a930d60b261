//go:build !pollstackdebug

package tcp

// assertOwner checks, in pollstackdebug builds only, that the running shard
// owns the connection; here it is nothing.
func (c *Conn) assertOwner() {}
