package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// The libvirt hook: configs/libvirt-hook-qemu, installed as
// /etc/libvirt/hooks/qemu, runs `uplinkctl libvirt-hook DOMAIN OPERATION
// SUB-OPERATION EXTRA` with the domain's XML on stdin. When a domain is
// prepared (before QEMU starts) each of its <interface type='vhostuser'>
// is added to uplinkd as a VM, and when it is released (after QEMU
// ended) removed again. A failed add fails the hook, and libvirt does not
// start the domain: a guest without its network is worse than one that
// does not start.

// hookNamespace is the XML namespace of uplinkd's <metadata> element:
//
//	<metadata>
//	  <uplinkd:vm xmlns:uplinkd="https://uplinkd.dev/xmlns/libvirt/1">
//	    <uplinkd:team>uplink</uplinkd:team>
//	  </uplinkd:vm>
//	</metadata>
const hookNamespace = "https://uplinkd.dev/xmlns/libvirt/1"

type domainXML struct {
	Name     string `xml:"name"`
	Metadata struct {
		VM []struct {
			XMLName xml.Name
			Team    string `xml:"team"`
			Limit   string `xml:"limit"`
			Shares  string `xml:"shares"`
		} `xml:",any"`
	} `xml:"metadata"`
	Interfaces []struct {
		Type string `xml:"type,attr"`
		MAC  struct {
			Address string `xml:"address,attr"`
		} `xml:"mac"`
		Source struct {
			Path string `xml:"path,attr"`
			Mode string `xml:"mode,attr"`
		} `xml:"source"`
	} `xml:"devices>interface"`
}

// hookVMs are the VMs a domain's vhost-user interfaces are, as [[vms]]
// keys: the first is named as the domain, the n-th after it DOMAIN.n.
func hookVMs(domXML []byte, defaultTeam string) ([]map[string]any, error) {
	var d domainXML
	if err := xml.Unmarshal(domXML, &d); err != nil {
		return nil, fmt.Errorf("domain XML: %w", err)
	}
	team := defaultTeam
	extra := map[string]any{}
	for _, m := range d.Metadata.VM {
		if m.XMLName.Space != hookNamespace || m.XMLName.Local != "vm" {
			continue
		}
		if m.Team != "" {
			team = m.Team
		}
		if m.Limit != "" {
			extra["limit"] = m.Limit
		}
		if m.Shares != "" {
			extra["shares"] = m.Shares
		}
	}
	var vms []map[string]any
	for _, ifc := range d.Interfaces {
		if ifc.Type != "vhostuser" {
			continue
		}
		name := d.Name
		if len(vms) > 0 {
			name = fmt.Sprintf("%s.%d", d.Name, len(vms))
		}
		if ifc.MAC.Address == "" || ifc.Source.Path == "" {
			return nil, fmt.Errorf("domain %s: a vhostuser interface without a MAC address or a socket path", d.Name)
		}
		// libvirt's mode is QEMU's side: QEMU as client means uplinkd
		// serves the socket.
		mode := "server"
		if ifc.Source.Mode == "server" {
			mode = "client"
		}
		vm := map[string]any{"name": name, "socket": ifc.Source.Path, "mode": mode, "macs": []string{ifc.MAC.Address},
			"team": team, "driver": "libvirt", "domain": d.Name}
		for k, v := range extra {
			vm[k] = v
		}
		vms = append(vms, vm)
	}
	return vms, nil
}

func (c *client) libvirtHookCmd() *cobra.Command {
	var team string
	cmd := &cobra.Command{
		Use:    "libvirt-hook DOMAIN OPERATION [SUB-OPERATION EXTRA]",
		Short:  "libvirt's qemu hook: adds a domain's vhost-user interfaces to uplinkd when it is prepared, removes them when released",
		Hidden: true,
		Args:   cobra.MinimumNArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			op := args[1]
			if op != "prepare" && op != "release" {
				return nil // every other operation: nothing to do
			}
			domXML, err := io.ReadAll(os.Stdin)
			if err != nil {
				return err
			}
			vms, err := hookVMs(domXML, team)
			if err != nil {
				return err
			}
			for _, vm := range vms {
				name := vm["name"].(string)
				if op == "prepare" {
					// One left from a domain released while uplinkd was
					// down (its drop-in kept it) gives way to this one.
					if err := c.send("DELETE", "/v1/vms/"+name, nil, nil); err != nil && !strings.Contains(err.Error(), "no VM named") {
						return fmt.Errorf("uplinkd: vm remove %s: %w", name, err)
					}
					if err := c.send("POST", "/v1/vms", vm, nil); err != nil {
						return fmt.Errorf("uplinkd: vm add %s: %w", name, err)
					}
					continue
				}
				// Released: a VM uplinkd no longer has is no error (it was
				// removed by hand, or uplinkd restarted without it).
				if err := c.send("DELETE", "/v1/vms/"+name, nil, nil); err != nil && !strings.Contains(err.Error(), "no VM named") {
					fmt.Fprintf(os.Stderr, "uplinkd: vm remove %s: %v\n", name, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "uplink", "the team of a domain whose metadata names none")
	return cmd
}
