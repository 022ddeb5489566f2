package server

import (
	"encoding/json"
	"net/http"

	"github.com/seatrx/seatrx/internal/api"
)

func writeProblem(w http.ResponseWriter, status int, code, title, detail string, step string) {
	w.Header().Set("Content-Type", api.MediaProblem)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypePrefix + code, Title: title, Status: status, Detail: detail, Step: step, Code: code})
}
