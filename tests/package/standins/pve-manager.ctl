### Stand-in for pve-manager 8.4.21: proxmox/pve-manager, branch stable-8
### (2606ac8), debian/control.  Of its Depends only pve-container (>= 5.2.5);
### its Conflicts, Replaces and Provides (vlan, vzdump) as they are.
Section: admin
Priority: optional
Standards-Version: 4.6.2
Maintainer: pxcri package tests <root@localhost>
Package: pve-manager
Version: 8.4.21
Architecture: all
Depends: pve-container (>= 5.2.5)
Conflicts: vlan, vzdump
Replaces: vlan, vzdump
Provides: vlan, vzdump
Description: stand-in for Proxmox VE's pve-manager (its package relations only)
 Made by pxcri's package tests (tests/package).
