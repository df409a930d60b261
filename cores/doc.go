// Package cores runs pollstack's per-core loops: each Loop locks its
// goroutine to an OS thread, pins that thread to one CPU, and turns a Worker
// to completion over and over — receive a batch, process it, transmit, run due
// timers, drain the mailbox — with an idle policy for when there is no work.
//
// Only the Loop's own goroutine calls its Worker. Other goroutines reach a
// core through its Mailbox and stop it through Stop.
package cores
