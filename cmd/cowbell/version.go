package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "cowbell %s (%s, %s/%s, journal reader: %s)\n",
				version, runtime.Version(), runtime.GOOS, runtime.GOARCH, journalReader)
		},
	}
}
