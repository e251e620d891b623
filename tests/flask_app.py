"""A small Flask application: the kind of app fasth2 exists to serve.

Not under ``wsgiref.validate.validator`` as tests/apps.py is: Werkzeug reads
``wsgi.input`` to its end with ``read()`` because fasth2 sets ``wsgi.input_terminated``
(the extension that allows it), and the validator, older than that extension, insists
on ``read(size)``.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, make_response, request, stream_with_context

app = Flask(__name__)
ITEMS: dict[int, dict] = {}


@app.get("/")
def index():
    return "flask index"


@app.get("/users/<int:user_id>")
def user(user_id: int):
    return f"user {user_id}"


@app.get("/search")
def search():
    return jsonify(q=request.args.get("q"), tags=request.args.getlist("tag"))


@app.get("/cookies/set")
def set_cookie():
    response = make_response("cookie set")
    response.set_cookie("session", "abc123")
    response.set_cookie("theme", "dark")
    return response


@app.get("/cookies")
def cookies():
    return jsonify(dict(request.cookies))


@app.post("/form")
def form():
    upload = request.files.get("file")
    return jsonify(name=request.form.get("name"),
                   file=upload.read().decode() if upload else None)


@app.post("/api/items")
def create_item():
    item = request.get_json()
    item_id = len(ITEMS) + 1
    ITEMS[item_id] = item
    return jsonify(id=item_id, **item), 201


@app.get("/api/items/<int:item_id>")
def get_item(item_id: int):
    if item_id not in ITEMS:
        return jsonify(error="not found"), 404
    return jsonify(ITEMS[item_id])


@app.get("/stream")
def stream():
    def lines():
        for i in range(100):
            yield f"line {i}\n"
    return Response(stream_with_context(lines()), mimetype="text/plain")
