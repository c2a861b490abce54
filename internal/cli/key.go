package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/api"
)

func init() {
	register(&Command{
		Name:    "key",
		Summary: "persons' SSH keys at central (list|show|add|delete)",
		Run:     centralVerb("key", keySubs),
	})
}

// maxKeyFile bounds a key file: authorized_keys files are small.
const maxKeyFile = 1 << 20

var keySubs = []*centralSub{
	{name: "list", usage: "list [ID|EMAIL] [--json]", maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return keyList
	}},
	{name: "show", usage: "show KEY_ID [--json]", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return keyShow
	}},
	{name: "add", usage: "add ID|EMAIL FILE|- (a public key, or several in authorized_keys form)", minArgs: 2, maxArgs: 2, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return keyAdd
	}},
	{name: "delete", usage: "delete KEY_ID", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			id, ok := ref(c.args[0]).(int64)
			if !ok {
				return &UsageError{Msg: fmt.Sprintf("orbis key delete: %q is not a key id (see `orbis key list`)", c.args[0])}
			}
			return deleteRecord(ctx, c, "key", func(ctx context.Context, _ any) error { return c.client.DeleteKey(ctx, id) })
		}
	}},
}

func keyList(ctx context.Context, c *centralCall) error {
	var filter any
	if len(c.args) == 1 {
		p, err := findPerson(ctx, c.client, c.args[0])
		if err != nil {
			return err
		}
		if len(p.KeyIDs) == 0 {
			return printKeys(ctx, c, nil)
		}
		filter = p.KeyIDs
	}
	keys, err := c.client.GetKeys(ctx, filter)
	if err != nil {
		return err
	}
	return printKeys(ctx, c, keys)
}

func printKeys(ctx context.Context, c *centralCall, keys []api.Key) error {
	if c.json {
		return writeJSON(c.env.Stdout, keys)
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = k.PersonID
	}
	emails, err := personEmails(ctx, c.client, ids)
	if err != nil {
		return err
	}
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{strconv.FormatInt(k.KeyID, 10), idNames([]int64{k.PersonID}, emails), k.KeyType, shortKey(k.Key)}
	}
	return writeTable(c.env.Stdout, []string{"ID", "PERSON", "TYPE", "KEY"}, rows)
}

func keyShow(ctx context.Context, c *centralCall) error {
	id, ok := ref(c.args[0]).(int64)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("orbis key show: %q is not a key id (see `orbis key list`)", c.args[0])}
	}
	keys, err := c.client.GetKeys(ctx, id)
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("no key %d (see `orbis key list`)", id)
	}
	if err != nil || c.json {
		return printOr(c, firstKey(keys), err)
	}
	emails, err := personEmails(ctx, c.client, []int64{keys[0].PersonID})
	if err != nil {
		return err
	}
	return writeRecord(c.env.Stdout, &keys[0], [][2]string{{"person", emails[keys[0].PersonID]}})
}

func firstKey(keys []api.Key) *api.Key {
	if len(keys) == 0 {
		return nil
	}
	return &keys[0]
}

func keyAdd(ctx context.Context, c *centralCall) error {
	keys, err := readKeyFile(c.env.Stdin, c.args[1])
	if err != nil {
		return err
	}
	for _, k := range keys {
		id, err := c.client.AddPersonKey(ctx, ref(c.args[0]), "ssh", k)
		if err != nil {
			return err
		}
		if c.json {
			if err := writeJSON(c.env.Stdout, map[string]int64{"key_id": id}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(c.env.Stdout, "added key %d to %s: %s\n", id, c.args[0], shortKey(k))
	}
	return nil
}

// readKeyFile reads the public keys in file ("-": standard input), one a
// line as in authorized_keys, and returns each as "TYPE BASE64 [COMMENT]",
// refusing anything that is not a valid SSH public key.
func readKeyFile(stdin io.Reader, file string) ([]string, error) {
	name := file
	var r io.Reader = stdin
	if file == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key from %s: %w", name, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: too large for a public key file", name)
	}
	return parseKeys(name, data)
}

func parseKeys(name string, data []byte) ([]string, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return nil, fmt.Errorf("%s is a private key: give the public one (the .pub file), and keep this one secret", name)
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxKeyFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: not an SSH public key: %w", name, n, err)
		}
		k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
		if comment != "" {
			k += " " + comment
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(keys) == 0 {
		return nil, errors.New(name + ": no SSH public key in it")
	}
	return keys, nil
}

// shortKey shows a key as its type, the end of its data and its comment.
func shortKey(k string) string {
	f := strings.Fields(k)
	if len(f) < 2 {
		return k
	}
	data := f[1]
	if len(data) > 12 {
		data = "..." + data[len(data)-12:]
	}
	return strings.Join(append([]string{f[0], data}, f[2:]...), " ")
}
