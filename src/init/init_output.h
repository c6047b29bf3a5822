/* pxcri-init's dir mode event loop (the Proxmox backend): the control FIFO,
 * the signals pxcri-init receives, and the child's output into the CRI log.
 *
 * Every signal is blocked and read from sigfd (a signalfd).  ctl is DIR/ctl
 * opened O_RDWR | O_NONBLOCK, or -1: each byte is a message, 0 = start,
 * 1..64 = a signal for the user's process.
 *
 * The log gets one record per line, as the CRI wants it:
 *     <RFC3339Nano UTC> <stdout|stderr> <F|P> <content>
 * "F" for a complete line (its '\n' dropped), "P" for a chunk without one:
 * the stream's 16 KiB buffer filled, the stream ended in mid-line, or it
 * was quiet for 100 ms in mid-line (a prompt, `echo -n`: what an attached
 * client must see before the newline). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct init_output {
        int ctl;        /* -1: no control channel */
        int sigfd;
        int log;        /* DIR/output.log, O_APPEND */
        int out, err;   /* non-blocking read ends of the child's stdout, stderr; -1: none (a terminal) */
};

/* One complete line (no '\n') as a record of stream ("stdout", "stderr"). */
void init_output_log_line(int log, const char *stream, const char *line);

/* Before start.  Returns 0 on a start byte, else the signal that ends the
 * container: a signal byte, or one of fatal[] that pxcri-init received.
 * Other signals are dropped and orphans reaped. */
int init_output_wait_start(const struct init_output *o, const int *fatal, size_t n_fatal);

/* After start: forwards signals (received or ctl bytes) to child, logs its
 * output and reaps every process until child exited.  Then reads what is
 * left in the pipes without blocking (a grandchild may hold them open),
 * flushes partial lines and fsyncs the log: when this returns, the log holds
 * all the child wrote.  Returns child's wait status. */
int init_output_supervise(const struct init_output *o, pid_t child);
