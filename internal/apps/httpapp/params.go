package httpapp

// Defaults for Config fields left zero.
const (
	DefaultBody       = "hello\n"
	DefaultMaxSize    = int64(1) << 30 // bytes
	DefaultServerName = "pollstack"
	DefaultQueueDepth = 16 // responses
)

// Limits on a request.
const (
	// MaxHeadBytes bounds the request line plus header lines, line ends
	// included (and any empty lines before the request line), in bytes.
	MaxHeadBytes = 8 << 10
	// MaxHeaderLines bounds the number of header lines in one request.
	MaxHeaderLines = 100
	// maxQueueDepth bounds Config.QueueDepth.
	maxQueueDepth = 1 << 16
)

// Pattern is the alphabet size=N bodies repeat: byte i of such a body is
// Pattern[i%len(Pattern)].
const Pattern = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.\n"
