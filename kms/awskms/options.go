package awskms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"
)

type config struct {
	region    string
	endpoint  string
	awsConfig *aws.Config
	client    *kmssvc.Client
}

// Option configures New.
type Option func(*config)

// WithRegion calls KMS in region. A key ARN names its own region; giving
// another one is an error.
func WithRegion(region string) Option {
	return func(c *config) { c.region = region }
}

// WithEndpoint sends requests to endpoint (http(s)://host[:port]) instead of
// the region's KMS endpoint: local-kms in tests, or a VPC endpoint. Plain
// http is accepted only to a loopback address: the request carries the data
// key.
func WithEndpoint(endpoint string) Option {
	return func(c *config) { c.endpoint = endpoint }
}

// WithConfig uses cfg (credentials, HTTP client, region, …) instead of the
// SDK's default configuration chain. The keeper copies it and turns off the
// SDK's retries and body logging in its copy.
func WithConfig(cfg aws.Config) Option {
	return func(c *config) { c.awsConfig = &cfg }
}

// WithClient uses an existing KMS client instead of creating one; it may be
// shared. The keeper still turns off the client's retries and body logging
// for each of its own calls.
func WithClient(client *kmssvc.Client) Option {
	return func(c *config) { c.client = client }
}

// newClient makes the KMS client for key and returns it with the region it
// calls.
func (c *config) newClient(ctx context.Context, key keyID) (*kmssvc.Client, string, error) {
	if c.region != "" {
		if !regionRE.MatchString(c.region) || len(c.region) > 64 {
			return nil, "", fmt.Errorf("awskms: %s is not an AWS region name", quote(c.region))
		}
		if key.isARN() && c.region != key.region {
			return nil, "", fmt.Errorf("awskms: region %s does not match the key ARN's region %s", c.region, key.region)
		}
	}
	if c.client != nil {
		if c.awsConfig != nil || c.endpoint != "" || c.region != "" {
			return nil, "", errors.New("awskms: WithClient cannot be combined with WithConfig, WithEndpoint or WithRegion")
		}
		region := c.client.Options().Region
		if key.isARN() && region != key.region {
			return nil, "", fmt.Errorf("awskms: the client calls region %q, but the key ARN is in %s", region, key.region)
		}
		return c.client, region, nil
	}
	if c.endpoint != "" {
		if err := checkEndpoint(c.endpoint); err != nil {
			return nil, "", err
		}
	}
	var cfg aws.Config
	if c.awsConfig != nil {
		cfg = c.awsConfig.Copy()
	} else {
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, "", fmt.Errorf("awskms: loading the AWS SDK configuration (environment, shared config files): %w", err)
		}
	}
	region := c.region
	if region == "" {
		region = key.region
	}
	if region == "" {
		region = cfg.Region
	}
	if region == "" {
		return nil, "", fmt.Errorf("awskms: no region for key %s: give one (WithRegion, ?region= in the URL), use a key ARN, or set AWS_REGION", key.id)
	}
	client := kmssvc.NewFromConfig(cfg, func(o *kmssvc.Options) {
		o.Region = region
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		oneAttempt(o)
	})
	return client, region, nil
}

// checkEndpoint accepts http(s)://host[:port] with an optional trailing
// slash, and http only to a loopback host. Its errors do not quote an
// endpoint that holds user info, which may be a password.
func checkEndpoint(s string) error {
	const want = "want http(s)://host[:port]"
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("awskms: malformed endpoint URL: " + want)
	case u.User != nil:
		return errors.New("awskms: the endpoint URL must not hold user info: " + want)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("awskms: endpoint %s: %s", quote(s), want)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("awskms: endpoint %s: plain http would send data keys unencrypted over the network; use https (http is only for a loopback address)", quote(s))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
