package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/orbisproject/orbis/internal/rootfs"
)

func init() {
	register(&Command{
		Name:    "image",
		Summary: "build, list and remove the node's reference images (build|list|rm)",
		Run:     runImage,
	})
}

func runImage(ctx context.Context, env *Env, args []string) error {
	sub, rest, err := subcommand("image", args, "build", "list", "rm")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("image "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	state := fs.String("state", imageStateDir(), "node state directory")
	kind := fs.String("kind", "", "image kind: busybox or debian (default: the image's name when that is a kind)")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	names, err := imageParseArgs(fs, rest)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := rootfs.NewStore(*state, rootfs.Options{}, log)
	switch sub {
	case "build":
		if len(names) != 1 {
			return &UsageError{Msg: "usage: orbis image build [--kind busybox|debian] [--state DIR] NAME"}
		}
		k := *kind
		if k == "" {
			k = names[0]
		}
		_, err := store.Build(ctx, names[0], k, env.Stderr)
		return err
	case "rm":
		if len(names) != 1 {
			return &UsageError{Msg: "usage: orbis image rm [--state DIR] NAME"}
		}
		return store.Remove(names[0])
	}
	if len(names) != 0 {
		return &UsageError{Msg: "usage: orbis image list [--state DIR] [--json]"}
	}
	imgs, err := store.List()
	if err != nil {
		return err
	}
	return printImages(env.Stdout, imgs, *asJSON)
}

// printImages writes the images as an aligned table, or as a JSON array.
func printImages(w io.Writer, imgs []rootfs.Image, asJSON bool) error {
	if asJSON {
		if imgs == nil {
			imgs = []rootfs.Image{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(imgs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tFILES\tCREATED")
	for _, img := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", img.Name, img.Kind, rootfs.HumanSize(img.Size),
			img.Files, img.Created.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

// imageStateDir is $ORBIS_STATE, or the node's default state directory.
func imageStateDir() string {
	if d := os.Getenv("ORBIS_STATE"); d != "" {
		return d
	}
	return rootfs.DefaultStateDir
}

// imageParseArgs parses flags that may come before or after the
// positional arguments ("build NAME --kind busybox"), and returns the
// positional ones.
func imageParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
