/* OCI startContainer hooks, run by pxcri-init inside the container (its
 * namespaces, after pivot_root) just before it execs the user's process.
 *
 * pxcri writes <dir>/start-hooks at the end of create: NUL-terminated
 * records "s<OCI state JSON>" (once, first), then per hook "p<path>" followed
 * by its "a<arg>", "e<KEY=VALUE>", "t<timeout seconds>" records.  Each hook
 * gets the state on stdin; a hook that fails or outlives its timeout
 * (SIGKILL) ends the process before it runs, exit code 127. */
#pragma once

/* Run the hooks of path if it exists; returns only when all succeeded. */
void init_run_start_hooks(const char *path);

/* createContainer hooks: the same records, run from LXC's mount hook
 * (`pxcri-init --create-container-hooks PATH`, in the container's mount
 * namespace before pivot_root).  The state has no pid: the runner adds its
 * parent's (the container's init to be) as the host's /proc, still mounted
 * there, names it.  Returns only when all succeeded; else exits 127 and
 * leaves the reason in PATH.err. */
void init_run_create_hooks(const char *path);

/* The parent of pid (0: of ourselves) as the host's /proc names it -- in
 * LXC's mount hook, before pivot_root, /proc is the host's: our parent is
 * the container's init to be, and its parent liblxc's monitor.  0 when it
 * cannot be read. */
long init_host_ppid(long pid);
