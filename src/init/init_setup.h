/* The lxc backend's setup in LXC's mount hook: what liblxc cannot do itself.
 *
 * `pxcri-init --lxc-setup PATH` runs from lxc.hook.mount, in the container's
 * namespaces (its own or the pod's it joined) after liblxc mounted the
 * rootfs and the lxc.mount.entry lines and before pivot_root, as root with
 * every capability.  The host's /proc is still mounted at /proc there.
 *
 * PATH holds NUL-terminated records, applied in order:
 *   "s<key>=<value>"   linux.sysctl: written to /proc/sys/<key, dots as
 *                      slashes>.  The kernel resolves a sysctl in the
 *                      writer's namespaces (net, ipc, uts), so this is the
 *                      container's value.  liblxc's own lxc.sysctl.* comes
 *                      after pivot_root, through the container's /proc,
 *                      where linux.readonlyPaths made /proc/sys read-only.
 *   "B<flags>\t<source>\t<destination>"
 *                      a bind mount with shared propagation: a clone of
 *                      source made in the mount namespace of liblxc's monitor
 *                      (pxcri's: the one where the bundle's paths mean
 *                      something), so that it stays a peer of the host's mount
 *                      and mounts propagate both ways.  liblxc's own binds come
 *                      from the container's copy of the host's mounts, which
 *                      it made dependent (MS_SLAVE) first: host to container
 *                      only.  Flags: 'r' recursive (rbind), 'S' every mount of
 *                      the tree shared (rshared), 'o' read-only, 'O'
 *                      recursively read-only, 'u' nosuid, 'd' nodev, 'x'
 *                      noexec, 'f' the mount point is a file.  The mount point
 *                      is made in the rootfs ($LXC_ROOTFS_MOUNT), symlinks
 *                      resolved inside it.
 *
 * On failure the reason goes to stderr and to PATH.err, and it exits 127:
 * liblxc then aborts the start. */
#pragma once

void init_lxc_setup(const char *path);
