package fault

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		err  *Error
		code int
		body string
	}{
		{NotFound("abc"), 404, `{"itemNotFound":{"code":404,"message":"Resource abc cannot be found."}}`},
		{NotAdmin(), 401, `{"unauthorized":{"code":401,"message":"User does not have admin privileges."}}`},
		{Unprocessable("x %d", 1), 422, `{"unprocessableEntity":{"code":422,"message":"x 1"}}`},
		{New(409, "busy"), 409, `{"conflict":{"code":409,"message":"busy"}}`},
		{New(418, "teapot"), 418, `{"serverError":{"code":418,"message":"teapot"}}`},
		{BadRequest("%s", "100% sure"), 400, `{"badRequest":{"code":400,"message":"100% sure"}}`},
		{Internal("req-1", errors.New("secret detail")), 500, `{"instanceFault":{"code":500,"message":"Internal Server Error. Please keep this ID to help us figure out what went wrong: (req-1)."}}`},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		Write(rec, c.err)
		if rec.Code != c.code || rec.Body.String() != c.body || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Header().Get("Content-Length") != fmt.Sprint(len(c.body)) {
			t.Errorf("%v: %d %s %v", c.err, rec.Code, rec.Body, rec.Header())
		}
	}
	e := OverLimit("This request was rate-limited.")
	e.Details, e.RetryAfter = "Only 2 GET request(s) can be made to * every minute.", "12"
	rec := httptest.NewRecorder()
	Write(rec, e)
	if rec.Header().Get("Retry-After") != "12" || rec.Body.String() != `{"overLimit":{"code":413,"message":"This request was rate-limited.","details":"Only 2 GET request(s) can be made to * every minute.","retryAfter":"12"}}` {
		t.Errorf("rate limit fault: %v %s", rec.Header(), rec.Body)
	}
	if As(fmt.Errorf("wrapped: %w", NotAdmin())) == nil || As(errors.New("plain")) != nil {
		t.Errorf("As")
	}
}
