package providertest

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/officialasishkumar/costobs/sdk/go"

// moduleZip writes the SDK module as the go command's module zip: every file under sdk/go
// except the nested providertest module, under "<module>@<version>/".
func moduleZip(t *testing.T, dst, version string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.IsDir() {
			if rel == "providertest" || (strings.HasPrefix(d.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w, err := zw.Create(modulePath + "@" + version + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// Install proof: the module, served as a module zip from a file-based GOPROXY, installs with
// `go get` into a fresh consumer module that builds and runs the docs' example. The build
// fails if the embedded price table or provider map were missing from the zip.
func TestGoGetInstallsTheModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a consumer program with the go command")
	}
	const version = "v0.1.0"
	proxy := t.TempDir()
	dir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"list": version + "\n", version + ".info": `{"Version":"` + version + `","Time":"2026-11-29T00:00:00Z"}`,
		version + ".mod": string(gomod),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	moduleZip(t, filepath.Join(dir, version+".zip"), version)

	app := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.26\n",
		"main.go": `package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/officialasishkumar/costobs/sdk/go"
)

func main() {
	co := costobs.New(costobs.Config{IngestURL: "http://127.0.0.1:9", APIKey: "costobs_dev_secret_key", Team: "payments", Environment: "prod"})
	httpClient := &http.Client{Transport: co.Transport(nil)}
	ctx := costobs.WithMetadata(context.Background(), costobs.Metadata{CustomerID: "cust-42", Feature: "chat", Tags: map[string]string{"pr": "1234"}})
	err := co.Record(ctx, costobs.Event{Provider: "openai", Model: "gpt-4o", Usage: costobs.Usage{InputTokens: 10}})
	_ = co.Close()
	fmt.Println("costobs", costobs.Version, httpClient.Transport != nil, err)
}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(app, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goBin, err := exec.LookPath("go") // the toolchain running this test
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(proxy), "GOSUMDB=off", "GONOSUMDB="+modulePath,
		"GOFLAGS=-mod=mod -modcacherw", "GOMODCACHE="+t.TempDir(), "GOWORK=off", "GOTOOLCHAIN=local")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = app, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(goBin, "get", modulePath+"@"+version)
	run(goBin, "build", "-o", "app", ".")
	if out := run(filepath.Join(app, "app")); out != "costobs 0.1.0 true <nil>\n" {
		t.Fatalf("the installed program printed %q", out)
	}
	if gm, _ := os.ReadFile(filepath.Join(app, "go.mod")); !strings.Contains(string(gm), modulePath+" "+version) {
		t.Fatalf("go.mod after go get:\n%s", gm)
	}
}
