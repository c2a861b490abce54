package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// softwareHTTP is the client of software calls: the central client's
// transport without its overall timeout, since an upload or a download
// of a large tree takes as long as it takes (the context bounds it).
func (c *CentralClient) softwareHTTP() *http.Client {
	return &http.Client{Transport: c.http.Transport}
}

// softwareCall sends a person's software call and decodes a 200 answer.
func (c *CentralClient) softwareCall(ctx context.Context, method, slice, op string, body io.Reader, resp any) error {
	u := c.base + SoftwarePath + url.PathEscape(slice) + "/" + op
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("software %s: %w", op, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.sendLong(req, "software "+op, "software "+op, resp)
}

// sendLong sends req with softwareHTTP (no overall timeout) and decodes a
// 200 answer into resp. op names the call in errors; method is the
// CentralError's Method.
func (c *CentralClient) sendLong(req *http.Request, op, method string, resp any) error {
	res, err := c.softwareHTTP().Do(req)
	if err != nil {
		if ctx := req.Context(); ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return &UnreachableError{URL: c.base, Err: unwrapURLError(err)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, centralMaxResponse))
	if err != nil {
		return &UnreachableError{URL: c.base, Err: fmt.Errorf("read answer: %w", err)}
	}
	if res.StatusCode != http.StatusOK {
		return centralError(method, res, data)
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// SoftwareMissing returns the blobs of hashes that central lacks for the
// slice.
func (c *CentralClient) SoftwareMissing(ctx context.Context, slice string, hashes []string) ([]string, error) {
	body, _ := json.Marshal(hashes)
	var resp struct {
		Missing []string `json:"missing"`
	}
	err := c.softwareCall(ctx, http.MethodPost, slice, "missing", bytes.NewReader(body), &resp)
	return resp.Missing, err
}

// SoftwareUpload uploads the blob frames that write writes (with
// WriteBlobFrame) and returns how many blobs and bytes central stored.
func (c *CentralClient) SoftwareUpload(ctx context.Context, slice string, write func(w io.Writer) error) (int, int64, error) {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := write(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	var resp struct {
		Stored int   `json:"stored"`
		Bytes  int64 `json:"bytes"`
	}
	err := c.softwareCall(ctx, http.MethodPost, slice, "blobs", pr, &resp)
	pr.CloseWithError(errors.New("upload ended"))
	return resp.Stored, resp.Bytes, err
}

// SoftwareSetManifest makes manifest (its canonical bytes) the slice's
// software, installed at dest in each sliver ("": the default).
func (c *CentralClient) SoftwareSetManifest(ctx context.Context, slice, dest string, manifest []byte) (SoftwarePushResult, error) {
	op := "manifest"
	if dest != "" {
		op += "?dest=" + url.QueryEscape(dest)
	}
	var resp SoftwarePushResult
	err := c.softwareCall(ctx, http.MethodPut, slice, op, bytes.NewReader(manifest), &resp)
	return resp, err
}

// SoftwareStatus returns the slice's software and its nodes' reports.
func (c *CentralClient) SoftwareStatus(ctx context.Context, slice string) (SoftwareStatus, error) {
	return c.SoftwareStatusWait(ctx, slice, 0)
}

// SoftwareStatusWait returns the slice's software and its nodes' reports
// once every node installed the current manifest or failed, or when wait
// is up (0: at once). A central that does not know wait answers at once.
func (c *CentralClient) SoftwareStatusWait(ctx context.Context, slice string, wait time.Duration) (SoftwareStatus, error) {
	op := "status"
	if wait > 0 {
		op += "?wait=" + url.QueryEscape(min(wait, MaxStatusWait).String())
	}
	var resp SoftwareStatus
	err := c.softwareCall(ctx, http.MethodGet, slice, op, nil, &resp)
	return resp, err
}

// SoftwareManifest fetches a manifest of one of the node's slices.
func (c *NodeClient) SoftwareManifest(ctx context.Context, slice, hash string) ([]byte, error) {
	res, err := c.softwareDo(ctx, http.MethodGet, url.PathEscape(slice)+"/manifest/"+hash, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("central manifest: %w", err)
	}
	return data, nil
}

// SoftwareBlobs fetches blobs of one of the node's slices in one
// request, calling fn with each as it arrives (fn must read size bytes
// from r). Central may end the stream early (a blob it no longer has).
func (c *NodeClient) SoftwareBlobs(ctx context.Context, slice string, hashes []string, fn func(hash string, size int64, r io.Reader) error) error {
	body, _ := json.Marshal(hashes)
	res, err := c.softwareDo(ctx, http.MethodPost, url.PathEscape(slice)+"/blobs", body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 64<<10)
	for {
		hash, size, err := ReadBlobFrame(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("central blobs: %w", err)
		}
		if err := fn(hash, size, io.LimitReader(br, size)); err != nil {
			return err
		}
	}
}

// SoftwareReport tells central how the node's slices' software is.
func (c *NodeClient) SoftwareReport(ctx context.Context, reports []SoftwareReport) error {
	body, err := json.Marshal(reports)
	if err != nil {
		return fmt.Errorf("software report: %w", err)
	}
	return c.do(ctx, http.MethodPost, "software/report", body, true, nil)
}

// softwareDo sends a signed software call and returns a 200 answer for
// the caller to read and close.
func (c *NodeClient) softwareDo(ctx context.Context, method, op string, body []byte) (*http.Response, error) {
	uri := NodeSoftwarePath + op
	req, err := http.NewRequestWithContext(ctx, method, c.base+uri, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("central software: %w", err)
	}
	if err := c.sign(req, method, uri, body); err != nil {
		return nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("central software: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		msg := nodeErrorText(data, res.Status)
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return nil, &NodeCallError{Status: res.StatusCode, Msg: "central software: " + msg}
	}
	return res, nil
}
