### Stand-in for lxc-pve-dev 6.0.0-1 (the same debian/control): liblxc's
### headers, lxc.pc and liblxc.so for lxc-pve.
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Section: libdevel
Package: lxc-pve-dev
Version: 6.0.0-1
Architecture: amd64
Depends: lxc-pve (= 6.0.0-1)
Description: stand-in for Proxmox VE's lxc-pve-dev (its package relations only)
 Made by pxcri's package tests (tests/package).
