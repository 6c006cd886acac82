"""Templates: the Jinja2 sandbox refuses attribute escapes; defaults and escaping."""

from __future__ import annotations

import pytest

from laketown.apps.engagement.store import Store
from laketown.apps.engagement.templates_store import TemplateError, Templates, render

USER = {"user_id": "u1", "email": "u1@example.org", "attributes": {"given_name": "Ana"}}

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ user.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ given_name.format.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_blocks_attribute_escapes(source):
    tpl = {"name": "evil", "subject": "s", "html": source, "text": None, "defaults": {}}
    try:
        out = render(tpl, USER)
    except TemplateError as exc:
        assert "sandbox" in str(exc) or "failed" in str(exc)
        return
    # what the sandbox lets through renders as nothing: no Python object leaks into the message
    assert "class" not in out.html and "module" not in out.html and "function" not in out.html
    assert "uid=" not in out.html


def test_sandboxed_templates_cannot_mutate_what_they_are_given():
    tpl = {"name": "m", "subject": "s", "html": "{{ user.update({'email': 'x@evil'}) }}{{ user.email }}",
           "text": None, "defaults": {}}
    with pytest.raises(TemplateError, match="sandbox"):
        render(tpl, USER)


def test_defaults_and_escaping(ws):
    t = Templates(Store(ws))
    t.save("w", "Hi {{ given_name }}", "<p>{{ given_name }} / {{ coupon }}</p>", defaults={"coupon": "WELCOME", "given_name": "there"})
    out = render(t.get("w"), {"user_id": "x", "attributes": {"given_name": "<script>x</script>"}})
    assert out.html == "<p>&lt;script&gt;x&lt;/script&gt; / WELCOME</p>"
    assert render(t.get("w"), {"user_id": "y", "attributes": {}}).subject == "Hi there"


def test_bad_templates_are_refused_with_the_line(ws):
    t = Templates(Store(ws))
    with pytest.raises(TemplateError, match=r"html does not parse: .*line 2"):
        t.save("bad", "s", "<p>\n{{ name </p>")
    with pytest.raises(TemplateError, match="unknown template 'nope'; templates: none"):
        t.get("nope")
