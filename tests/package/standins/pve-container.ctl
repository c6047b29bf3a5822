### Stand-in for pve-container 5.3.5: proxmox/pve-container, branch
### stable-bookworm (6475873), debian/control.  Of its Depends only lxc-pve
### (unversioned there) is kept; the rest are Proxmox's Perl libraries.
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Section: perl
Package: pve-container
Version: 5.3.5
Architecture: all
Depends: lxc-pve
Description: stand-in for Proxmox VE's pve-container (its package relations only)
 Made by pxcri's package tests (tests/package).
