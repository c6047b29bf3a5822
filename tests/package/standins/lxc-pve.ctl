### Stand-in for Proxmox VE 8's lxc-pve 6.0.0-1: proxmox/lxc, branch
### stable-bookworm (12c47dd), debian/control.  Its Conflicts, Replaces,
### Provides and Breaks as they are; its Depends (apparmor, bridge-utils,
### criu, libcap2, libgnutlsxx30, lxcfs, python3, uidmap) are left out: they
### decide nothing about what replaces what.
Section: admin
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Package: lxc-pve
Version: 6.0.0-1
Architecture: amd64
Conflicts: liblxc1, lxc
Replaces: liblxc1, lxc
Provides: liblxc1, lxc
Breaks: pve-container (<< 3.1-1)
Description: stand-in for Proxmox VE's lxc-pve (its package relations only)
 Made by pxcri's package tests (tests/package).
