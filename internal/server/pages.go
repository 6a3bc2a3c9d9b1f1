package server

import (
	"html/template"
	"net/http"
)

// The few HTML pages of this first version (the web application comes later), in French.
var pages = template.Must(template.New("layout").Parse(`{{define "top"}}<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}};url=/auth/ciba/poll">{{end}}
<title>{{.Title}} – mssante</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
.code{font-size:3rem;font-weight:bold;letter-spacing:.3rem}.err{color:#a00}</style></head><body>
<h1>{{.Title}}</h1>{{end}}
{{define "bottom"}}</body></html>{{end}}

{{define "home"}}{{template "top" .}}
{{with .Pro}}
<p>Connecté : <strong>{{.GivenName}} {{.FamilyName}}</strong> (identifiant national {{.NationalID}}).</p>
<p>Boîtes aux lettres MSSanté :</p><ul>{{range .Mailboxes}}<li>{{.}}</li>{{else}}<li>aucune</li>{{end}}</ul>
<form method="post" action="/auth/logout"><button type="submit">Se déconnecter</button></form>
{{else}}
<p><a href="/auth/login">Se connecter avec Pro Santé Connect</a> (carte CPS ou application e-CPS).</p>
<h2>Connexion sur votre téléphone ou votre carte</h2>
<form method="post" action="/auth/ciba/start">
<label>Identifiant national (RPPS) <input name="national_id" required pattern="[0-9A-Za-z]{6,20}" autocomplete="username"></label>
<fieldset><legend>Valider avec</legend>
<label><input type="radio" name="channel" value="MOBILE" checked> l'application e-CPS</label>
<label><input type="radio" name="channel" value="CARD"> la carte CPS</label></fieldset>
<button type="submit">Envoyer la demande</button>
</form>
{{end}}
{{template "bottom" .}}{{end}}

{{define "ciba"}}{{template "top" .}}
<p>Une demande d'authentification a été envoyée. Vérifiez que ce code s'affiche sur votre appareil, puis validez :</p>
<p class="code">{{.Binding}}</p>
<p>Cette page se met à jour automatiquement.</p>
{{template "bottom" .}}{{end}}

{{define "device"}}{{template "top" .}}
{{if .Done}}
<p>Connexion réussie{{with .Pro}} : <strong>{{.GivenName}} {{.FamilyName}}</strong>{{end}}. Revenez à votre application ; vous pouvez fermer cette page.</p>
{{else}}
{{with .Message}}<p class="err">{{.}}</p>{{end}}
<p>Saisissez le code affiché par votre application de messagerie, puis connectez-vous avec Pro Santé Connect.</p>
<p>Ne saisissez pas un code que quelqu'un d'autre vous a transmis.</p>
<form method="post" action="/auth/device">
<label>Code <input name="user_code" required autocomplete="off" autocapitalize="characters" placeholder="ABCD-EFGH"></label>
<button type="submit">Continuer</button>
</form>
{{end}}
{{template "bottom" .}}{{end}}

{{define "error"}}{{template "top" .}}
<p class="err">{{.Message}}</p>
<p><a href="/">Retour à l'accueil</a></p>
{{template "bottom" .}}{{end}}
`))

type pageData struct {
	Title   string
	Refresh int
	Pro     *Professional
	Binding string
	Message string
	Done    bool // device login completed
}

func (srv *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		srv.log.Error("render page", "page", name, "err", err)
	}
}

// handleHome shows the login page, or the professional once logged in.
func (srv *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Messagerie MSSanté"}
	if s := srv.session(r); s != nil {
		d.Pro, _ = s.identity()
	}
	if d.Pro != nil && srv.o.App != nil {
		http.Redirect(w, r, "/app/", http.StatusSeeOther) // the web application
		return
	}
	srv.render(w, http.StatusOK, "home", d)
}

func (srv *Server) renderError(w http.ResponseWriter, status int, message string) {
	srv.render(w, status, "error", pageData{Title: "Erreur", Message: message})
}

func (srv *Server) renderCIBAPending(w http.ResponseWriter, binding string, interval int) {
	srv.render(w, http.StatusOK, "ciba", pageData{Title: "Authentification en attente", Binding: binding,
		Refresh: max(interval, 1)})
}
