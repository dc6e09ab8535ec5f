package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// setupAdmin turns the setup link that `backend admin create` printed into
// an admin API key: it sets the password, signs in, enrols and confirms
// TOTP, then creates the key. The key is what the run needs; the admin's
// session is dropped.
func setupAdmin(ctx context.Context, e *edge, link, email, password string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || u.Fragment == "" {
		return "", fmt.Errorf("setup link %q: want https://admin.localhost/setup#<token>", link)
	}
	host := u.Hostname()
	if err := noContent(e.call(ctx, host, "POST", "/api/v1/auth/password", "",
		map[string]string{"token": u.Fragment, "purpose": "setup", "password": password})); err != nil {
		return "", fmt.Errorf("set password: %w", err)
	}
	h, err := e.callJSON(ctx, host, "POST", "/api/v1/auth/sign-in", "",
		map[string]string{"email": email, "password": password}, 200, nil)
	if err != nil {
		return "", err
	}
	session := sessionFrom(h)
	var enrolment struct {
		Secret string `json:"secret"`
	}
	if _, err := e.callJSON(ctx, host, "POST", "/api/v1/auth/totp/enrolment", session, nil, 201, &enrolment); err != nil {
		return "", err
	}
	code, err := totp.GenerateCode(enrolment.Secret, time.Now())
	if err != nil {
		return "", fmt.Errorf("totp: %w", err)
	}
	h, err = e.callJSON(ctx, host, "POST", "/api/v1/auth/totp/confirmation", session, map[string]string{"code": code}, 200, nil)
	if err != nil {
		return "", err
	}
	if s := sessionFrom(h); s != "" {
		session = s
	}
	var me struct {
		ID string `json:"id"`
	}
	if _, err := e.callJSON(ctx, host, "GET", "/api/v1/me", session, nil, 200, &me); err != nil {
		return "", err
	}
	var created struct {
		Key string `json:"key"`
	}
	if _, err := e.callJSON(ctx, host, "POST", "/api/v1/admin/api-keys", session,
		map[string]string{"user_id": me.ID, "name": "loadtest", "role": "admin"}, 201, &created); err != nil {
		return "", err
	}
	if !strings.HasPrefix(created.Key, "hcw_") {
		return "", errors.New("create API key: the answer holds no hcw_ key")
	}
	return created.Key, nil
}

func noContent(status int, body []byte, _ any, err error) error {
	if err != nil {
		return err
	}
	if status != 204 && status != 200 {
		return fmt.Errorf("status %d: %s", status, truncate(body))
	}
	return nil
}
