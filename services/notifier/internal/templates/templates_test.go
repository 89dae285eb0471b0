package templates

import (
	"strings"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	t.Parallel()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	code, err := r.Code("012345", now.Add(5*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	winner, err := r.Winner(7)
	if err != nil {
		t.Fatal(err)
	}
	loser, err := r.Loser()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		got      Rendered
		subject  string
		contains []string
	}{
		{"code", code, SubjectCode, []string{"012345", "2026년 11월 27일 21시 05분 (KST)", "5분 동안"}},
		{"winner", winner, SubjectWinner, []string{"축하합니다! 터닝의 마지막 선물에 당첨되셨습니다", "7번째"}},
		{"loser", loser, SubjectLoser, []string{"당첨되지 않으셨습니다"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", tt.got.Subject, tt.subject)
			}
			for _, want := range tt.contains {
				if !strings.Contains(tt.got.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, tt.got.Text)
				}
				if !strings.Contains(tt.got.HTML, want) {
					t.Errorf("html part lacks %q:\n%s", want, tt.got.HTML)
				}
			}
			if !strings.HasPrefix(strings.TrimSpace(tt.got.HTML), "<!DOCTYPE html>") {
				t.Errorf("html part is not a document")
			}
		})
	}
}
