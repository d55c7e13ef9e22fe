"""Ficha templates: which sections each job sees, their options and their labels (pure)."""

import json
from typing import Any, NotRequired, TypedDict, cast

from app.timeline.catalog import CATALOG, CUSTOM_PREFIX

# Always first, never removable.
BASE_SECTIONS = ("identity", "indicators", "flags")

# Each optional section and the options it takes (name -> (type, default)).
SECTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "identity": {},
    "indicators": {},
    "flags": {},
    "open_items": {},
    "recent_interactions": {"limit": (int, 10), "types": (list, [])},
    "purchases": {"limit": (int, 5)},
    "tickets": {"limit": (int, 5), "open_only": (bool, False)},
    "preferences": {},
    "pinned_notes": {"limit": (int, 5)},
    "contacts": {"limit": (int, 10)},
    "sales_series": {"interval": (str, "month")},
    "opportunities_and_quotes": {"limit": (int, 5)},
    "collections": {"limit": (int, 10)},
    "behaviour": {"limit": (int, 10)},
    "alerts": {"limit": (int, 5)},
    "follow_ups": {"limit": (int, 5)},
    "consents": {},
    "segments": {},
}
INTERVALS = ("month", "quarter", "year")


class Section(TypedDict):
    """A section of a stored template: its name and, filled in from ``SECTIONS``, each of
    the options that section takes (what the ficha's builders read)."""

    name: str
    limit: NotRequired[int]
    types: NotRequired[list[str]]
    open_only: NotRequired[bool]
    interval: NotRequired[str]


# A stored template: its sections, and its labels (language -> section name -> label).
Template = tuple[list[Section], dict[str, dict[str, str]]]
LANGUAGES = ("en", "es", "pt", "fr")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "identity": "Customer",
        "identity.organization": "Company",
        "indicators": "Key indicators",
        "flags": "Flags",
        "open_items": "In progress",
        "recent_interactions": "Recent interactions",
        "purchases": "Purchases",
        "tickets": "Tickets",
        "preferences": "Preferences",
        "pinned_notes": "Pinned notes",
        "contacts": "Contacts",
        "sales_series": "Sales",
        "opportunities_and_quotes": "Opportunities and quotes",
        "collections": "Collections",
        "behaviour": "Behaviour",
        "alerts": "Alerts",
        "follow_ups": "Follow-ups",
        "consents": "Consents",
        "segments": "Segments",
    },
    "es": {
        "identity": "Cliente",
        "identity.organization": "Empresa",
        "indicators": "Indicadores clave",
        "flags": "Avisos",
        "open_items": "En curso",
        "recent_interactions": "Interacciones recientes",
        "purchases": "Compras",
        "tickets": "Incidencias",
        "preferences": "Preferencias",
        "pinned_notes": "Notas fijadas",
        "contacts": "Contactos",
        "sales_series": "Ventas",
        "opportunities_and_quotes": "Oportunidades y presupuestos",
        "collections": "Cobros",
        "behaviour": "Comportamiento",
        "alerts": "Alertas",
        "follow_ups": "Seguimientos",
        "consents": "Consentimientos",
        "segments": "Segmentos",
    },
    "pt": {
        "identity": "Cliente",
        "identity.organization": "Empresa",
        "indicators": "Indicadores-chave",
        "flags": "Avisos",
        "open_items": "Em curso",
        "recent_interactions": "Interações recentes",
        "purchases": "Compras",
        "tickets": "Chamados",
        "preferences": "Preferências",
        "pinned_notes": "Notas fixadas",
        "contacts": "Contatos",
        "sales_series": "Vendas",
        "opportunities_and_quotes": "Oportunidades e orçamentos",
        "collections": "Cobranças",
        "behaviour": "Comportamento",
        "alerts": "Alertas",
        "follow_ups": "Acompanhamentos",
        "consents": "Consentimentos",
        "segments": "Segmentos",
    },
    "fr": {
        "identity": "Client",
        "identity.organization": "Entreprise",
        "indicators": "Indicateurs clés",
        "flags": "Signaux",
        "open_items": "En cours",
        "recent_interactions": "Interactions récentes",
        "purchases": "Achats",
        "tickets": "Tickets",
        "preferences": "Préférences",
        "pinned_notes": "Notes épinglées",
        "contacts": "Contacts",
        "sales_series": "Ventes",
        "opportunities_and_quotes": "Opportunités et devis",
        "collections": "Recouvrement",
        "behaviour": "Comportement",
        "alerts": "Alertes",
        "follow_ups": "Suivis",
        "consents": "Consentements",
        "segments": "Segments",
    },
}


# What a ficha writes itself, in each language of LANGUAGES (en, es, pt, fr): an event's
# summary when its source gave none (`event.<type>`), a flag's label (`flag.<code>`), an
# alert's title (`alert.<rule>`, filled in from the alert's detail), why a churn risk is
# what it is (`churn.<cause>`, filled in from the cause's values; in English as the
# indicators say it) and an action's name (`action.<type>`). Merged into LABELS, where
# the registry test holds each complete.
_TEXTS: dict[str, tuple[str, str, str, str]] = {
    "event.call.completed": (
        "Call",
        "Llamada",
        "Chamada",
        "Appel",
    ),
    "event.call.missed": (
        "Missed call",
        "Llamada perdida",
        "Chamada perdida",
        "Appel manqué",
    ),
    "event.call.abandoned": (
        "Abandoned call",
        "Llamada abandonada",
        "Chamada abandonada",
        "Appel abandonné",
    ),
    "event.call.voicemail": (
        "Voicemail",
        "Mensaje de voz",
        "Mensagem de voz",
        "Message vocal",
    ),
    "event.call.wrapped_up": (
        "Call wrapped up",
        "Cierre de llamada",
        "Encerramento de chamada",
        "Clôture d'appel",
    ),
    "event.email.received": (
        "Email received",
        "Email recibido",
        "Email recebido",
        "E-mail reçu",
    ),
    "event.email.sent": (
        "Email sent",
        "Email enviado",
        "Email enviado",
        "E-mail envoyé",
    ),
    "event.email.delivered": (
        "Email delivered",
        "Email entregado",
        "Email entregue",
        "E-mail remis",
    ),
    "event.email.bounced": (
        "Email bounced",
        "Email rebotado",
        "Email devolvido",
        "E-mail rejeté",
    ),
    "event.email.opened": (
        "Email opened",
        "Email abierto",
        "Email aberto",
        "E-mail ouvert",
    ),
    "event.email.clicked": (
        "Email link clicked",
        "Clic en un email",
        "Clique num email",
        "Clic dans un e-mail",
    ),
    "event.meeting.held": (
        "Meeting",
        "Reunión",
        "Reunião",
        "Réunion",
    ),
    "event.chat.conversation": (
        "Chat",
        "Chat",
        "Chat",
        "Chat",
    ),
    "event.social.mention": (
        "Social mention",
        "Mención en redes",
        "Menção nas redes",
        "Mention sur les réseaux",
    ),
    "event.note.added": (
        "Note",
        "Nota",
        "Nota",
        "Note",
    ),
    "event.order.placed": (
        "Order placed",
        "Pedido realizado",
        "Pedido feito",
        "Commande passée",
    ),
    "event.order.paid": (
        "Order paid",
        "Pedido pagado",
        "Pedido pago",
        "Commande payée",
    ),
    "event.order.shipped": (
        "Order shipped",
        "Pedido enviado",
        "Pedido enviado",
        "Commande expédiée",
    ),
    "event.order.delivered": (
        "Order delivered",
        "Pedido entregado",
        "Pedido entregue",
        "Commande livrée",
    ),
    "event.order.cancelled": (
        "Order cancelled",
        "Pedido cancelado",
        "Pedido cancelado",
        "Commande annulée",
    ),
    "event.order.refunded": (
        "Order refunded",
        "Pedido reembolsado",
        "Pedido reembolsado",
        "Commande remboursée",
    ),
    "event.payment.received": (
        "Payment received",
        "Pago recibido",
        "Pagamento recebido",
        "Paiement reçu",
    ),
    "event.payment.failed": (
        "Payment failed",
        "Pago fallido",
        "Pagamento falhado",
        "Paiement échoué",
    ),
    "event.payment.disputed": (
        "Payment disputed",
        "Pago disputado",
        "Pagamento contestado",
        "Paiement contesté",
    ),
    "event.invoice.overdue": (
        "Invoice overdue",
        "Factura vencida",
        "Fatura vencida",
        "Facture en retard",
    ),
    "event.ticket.opened": (
        "Ticket opened",
        "Incidencia abierta",
        "Chamado aberto",
        "Ticket ouvert",
    ),
    "event.ticket.updated": (
        "Ticket updated",
        "Incidencia actualizada",
        "Chamado atualizado",
        "Ticket mis à jour",
    ),
    "event.ticket.resolved": (
        "Ticket resolved",
        "Incidencia resuelta",
        "Chamado resolvido",
        "Ticket résolu",
    ),
    "event.survey.answered": (
        "Survey answered",
        "Encuesta respondida",
        "Pesquisa respondida",
        "Enquête répondue",
    ),
    "event.quote.sent": (
        "Quote sent",
        "Presupuesto enviado",
        "Orçamento enviado",
        "Devis envoyé",
    ),
    "event.opportunity.updated": (
        "Opportunity updated",
        "Oportunidad actualizada",
        "Oportunidade atualizada",
        "Opportunité mise à jour",
    ),
    "event.web.page_viewed": (
        "Page viewed",
        "Página vista",
        "Página vista",
        "Page vue",
    ),
    "event.content.downloaded": (
        "Content downloaded",
        "Contenido descargado",
        "Conteúdo baixado",
        "Contenu téléchargé",
    ),
    "event.webinar.attended": (
        "Webinar attended",
        "Webinar asistido",
        "Webinar assistido",
        "Webinaire suivi",
    ),
    "event.product.used": (
        "Product used",
        "Producto usado",
        "Produto usado",
        "Produit utilisé",
    ),
    "event.preference.updated": (
        "Preferences changed",
        "Preferencias cambiadas",
        "Preferências alteradas",
        "Préférences modifiées",
    ),
    "event.consent.granted": (
        "Consent granted",
        "Consentimiento dado",
        "Consentimento dado",
        "Consentement donné",
    ),
    "event.consent.withdrawn": (
        "Consent withdrawn",
        "Consentimiento retirado",
        "Consentimento retirado",
        "Consentement retiré",
    ),
    "event.customer.merged": (
        "Records merged",
        "Fichas fusionadas",
        "Registos fundidos",
        "Fiches fusionnées",
    ),
    "event.customer.unmerged": (
        "Merge undone",
        "Fusión deshecha",
        "Fusão desfeita",
        "Fusion annulée",
    ),
    "event.customer.erased": (
        "Personal data erased",
        "Datos personales borrados",
        "Dados pessoais apagados",
        "Données personnelles effacées",
    ),
    "event.message.sent": (
        "Message sent",
        "Mensaje enviado",
        "Mensagem enviada",
        "Message envoyé",
    ),
    "event.message.delivered": (
        "Message delivered",
        "Mensaje entregado",
        "Mensagem entregue",
        "Message remis",
    ),
    "event.message.failed": (
        "Message failed",
        "Mensaje fallido",
        "Mensagem falhada",
        "Message échoué",
    ),
    "event.message.received": (
        "Message received",
        "Mensaje recibido",
        "Mensagem recebida",
        "Message reçu",
    ),
    "event.callback.requested": (
        "Callback requested",
        "Pide que le llamen",
        "Pede retorno de chamada",
        "Rappel demandé",
    ),
    "event.task.created": (
        "Follow-up created",
        "Seguimiento creado",
        "Acompanhamento criado",
        "Suivi créé",
    ),
    "event.task.completed": (
        "Follow-up done",
        "Seguimiento hecho",
        "Acompanhamento feito",
        "Suivi terminé",
    ),
    "event.event.corrected": (
        "Event corrected",
        "Evento corregido",
        "Evento corrigido",
        "Événement corrigé",
    ),
    "event.web.visit": (
        "Visit, {pages} pages",
        "Visita, {pages} páginas",
        "Visita, {pages} páginas",
        "Visite, {pages} pages",
    ),
    "flag.at_risk": (
        "At risk",
        "En riesgo",
        "Em risco",
        "À risque",
    ),
    "flag.abandoned_calls": (
        "Calls abandoned",
        "Llamadas abandonadas",
        "Chamadas abandonadas",
        "Appels abandonnés",
    ),
    "flag.recurring_problem": (
        "Recurring problem",
        "Problema recurrente",
        "Problema recorrente",
        "Problème récurrent",
    ),
    "flag.open_dispute": (
        "Open dispute",
        "Disputa abierta",
        "Contestação aberta",
        "Litige ouvert",
    ),
    "flag.urgent_message": (
        "Urgent message",
        "Mensaje urgente",
        "Mensagem urgente",
        "Message urgent",
    ),
    "flag.angry_customer": (
        "Angry customer",
        "Cliente enfadado",
        "Cliente irritado",
        "Client en colère",
    ),
    "flag.incident": (
        "Affected by incident",
        "Afectado por incidencia",
        "Afetado por incidente",
        "Touché par un incident",
    ),
    "alert.unsatisfied_streak": (
        "Loyalty action: {unsatisfied_90d} unsatisfied contacts in 90 days",
        "Acción de fidelización: {unsatisfied_90d} contactos insatisfechos en 90 días",
        "Ação de fidelização: {unsatisfied_90d} contactos insatisfeitos em 90 dias",
        "Action de fidélisation : {unsatisfied_90d} contacts insatisfaits en 90 jours",
    ),
    "alert.premium_abandoned_calls": (
        "Urgent: {missed_calls_4h} calls abandoned in 4 hours",
        "Urgente: {missed_calls_4h} llamadas abandonadas en 4 horas",
        "Urgente: {missed_calls_4h} chamadas abandonadas em 4 horas",
        "Urgent : {missed_calls_4h} appels abandonnés en 4 heures",
    ),
    "alert.recurring_problem": (
        "Recurring problem: {categories}",
        "Problema recurrente: {categories}",
        "Problema recorrente: {categories}",
        "Problème récurrent : {categories}",
    ),
    "alert.open_dispute": (
        "Open payment dispute ({disputes})",
        "Disputa de pago abierta ({disputes})",
        "Contestação de pagamento aberta ({disputes})",
        "Litige de paiement ouvert ({disputes})",
    ),
    "alert.urgent_message": (
        "Urgent message from the customer",
        "Mensaje urgente del cliente",
        "Mensagem urgente do cliente",
        "Message urgent du client",
    ),
    "alert.angry_message": (
        "Supervisor: very negative message from the customer",
        "Supervisor: mensaje muy negativo del cliente",
        "Supervisor: mensagem muito negativa do cliente",
        "Superviseur : message très négatif du client",
    ),
    "alert.abusive_message": (
        "Supervisor: abusive message from the customer",
        "Supervisor: mensaje abusivo del cliente",
        "Supervisor: mensagem abusiva do cliente",
        "Superviseur : message injurieux du client",
    ),
    "alert.incident_affected": (
        "Affected by incident: {incident}",
        "Afectado por incidencia: {incident}",
        "Afetado por incidente: {incident}",
        "Touché par un incident : {incident}",
    ),
    "churn.unsatisfied": (
        "{count} unsatisfied contacts in 90 days",
        "{count} contactos insatisfechos en 90 días",
        "{count} contactos insatisfeitos em 90 dias",
        "{count} contacts insatisfaits en 90 jours",
    ),
    "churn.cancellation": (
        "asked to cancel in a message on {date}",
        "pidió la baja en un mensaje del {date}",
        "pediu o cancelamento numa mensagem de {date}",
        "a demandé à résilier dans un message du {date}",
    ),
    "churn.legal_threat": (
        "threatened legal action in a message on {date}",
        "amenazó con acciones legales en un mensaje del {date}",
        "ameaçou com ação judicial numa mensagem de {date}",
        "a menacé d'une action en justice dans un message du {date}",
    ),
    "churn.silence": (
        "no purchase for {days} days; usually every {usually}",
        "sin compras desde hace {days} días; suele comprar cada {usually} días",
        "sem compras há {days} dias; costuma comprar a cada {usually} dias",
        "aucun achat depuis {days} jours ; achète d'habitude tous les {usually} jours",
    ),
    "action.call": (
        "Call",
        "Llamar",
        "Ligar",
        "Appeler",
    ),
    "action.email": (
        "Email",
        "Enviar email",
        "Enviar email",
        "Envoyer un e-mail",
    ),
    "action.sms": (
        "SMS",
        "Enviar SMS",
        "Enviar SMS",
        "Envoyer un SMS",
    ),
    "action.whatsapp": (
        "WhatsApp",
        "WhatsApp",
        "WhatsApp",
        "WhatsApp",
    ),
}
for _key, _texts in _TEXTS.items():
    for _language, _text in zip(LANGUAGES, _texts, strict=True):
        LABELS[_language][_key] = _text


def text(language: str, key: str, **values: object) -> str | None:
    """What a ficha writes itself (``_TEXTS``) in ``language``, else in English, filled in
    from ``values``; None for a key it has no text for (an event type of a source's own)."""
    found = LABELS.get(language, {}).get(key) or LABELS["en"].get(key)
    return found.format(**values) if found is not None else None


def _sections(*names: str | tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": n} for n in BASE_SECTIONS]
    for item in names:
        name, options = (item, {}) if isinstance(item, str) else item
        out.append({"name": name, **options})
    return out


# Each job's card of a rich customer keeps to 2 KB and 40 values (docs/api.md, "The size
# budget"): a section a job needs, once (a ticket in `tickets`, not again among the
# interactions; a flag in `flags`, its alert by id).
DEFAULT_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "support": _sections(
        ("tickets", {"limit": 5, "open_only": False}),
        ("recent_interactions", {"limit": 5, "types": ["call.*", "email.*", "chat.*"]}),
        ("pinned_notes", {"limit": 5}),
    ),
    "sales": _sections(
        ("purchases", {"limit": 5}),
        ("opportunities_and_quotes", {"limit": 5}),
        ("contacts", {"limit": 10}),
    ),
    "collections": _sections(("collections", {"limit": 10})),
    "tech_support": _sections(
        ("tickets", {"limit": 10, "open_only": True}),
        ("behaviour", {"limit": 5}),
        ("recent_interactions", {"limit": 5, "types": ["call.*", "chat.*"]}),
        ("pinned_notes", {"limit": 5}),
    ),
    "marketing": _sections(("behaviour", {"limit": 5}), "consents", "segments", "preferences"),
    "community": _sections(
        ("recent_interactions", {"limit": 10, "types": ["social.*", "survey.*", "chat.*"]}),
        "consents",
    ),
}


class TemplateError(ValueError):
    """An invalid template: ``field`` names where, the message why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _valid_type(name: str) -> bool:
    family = name[:-2] if name.endswith(".*") else None
    families = {t.split(".")[0] for t in CATALOG}
    return name in CATALOG or name.startswith(CUSTOM_PREFIX) or family in families


def validate_sections(sections: list[dict[str, Any]]) -> list[Section]:
    """Check names and options; fill in defaults. Raises TemplateError naming the field."""
    seen: set[str] = set()
    clean: list[Section] = []
    for index, section in enumerate(sections):
        where = f"body.sections.{index}"
        name = section.get("name")
        if not isinstance(name, str) or name not in SECTIONS:
            raise TemplateError(f"{where}.name", f"unknown section {json.dumps(name)}")
        if name in seen:
            raise TemplateError(f"{where}.name", f"section '{name}' appears twice")
        seen.add(name)
        options = SECTIONS[name]
        entry: dict[str, Any] = {"name": name}
        for key, value in section.items():
            if key == "name":
                continue
            if key not in options:
                raise TemplateError(f"{where}.{key}", f"section '{name}' has no option '{key}'")
            kind, _ = options[key]
            if kind is int and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 50
            ):
                raise TemplateError(f"{where}.{key}", "must be a whole number from 1 to 50")
            if kind is bool and not isinstance(value, bool):
                raise TemplateError(f"{where}.{key}", "must be true or false")
            if key == "interval" and value not in INTERVALS:
                raise TemplateError(f"{where}.{key}", f"must be one of {', '.join(INTERVALS)}")
            if key == "types" and (
                not isinstance(value, list)
                or not all(isinstance(t, str) and _valid_type(t) for t in value)
            ):
                raise TemplateError(
                    f"{where}.{key}", "must list event types or families like call.*"
                )
            entry[key] = value
        for key, (_, default) in options.items():
            entry.setdefault(key, default)
        clean.append(cast(Section, entry))  # each option checked above
    for index, required in enumerate(BASE_SECTIONS):
        if required not in seen:
            raise TemplateError(f"body.sections.{index}", f"section '{required}' is always present")
    return clean


def validate_labels(labels: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    for language, names in labels.items():
        if not isinstance(names, dict):
            raise TemplateError(f"body.labels.{language}", "must map section names to labels")
        for name, label in names.items():
            if name not in SECTIONS:
                raise TemplateError(f"body.labels.{language}.{name}", f"unknown section '{name}'")
            if not isinstance(label, str) or not 1 <= len(label) <= 100:
                raise TemplateError(f"body.labels.{language}.{name}", "must be 1 to 100 characters")
    return labels


def _option_schema(name: str, kind: type) -> dict[str, Any]:
    if kind is int:
        return {"type": "integer", "minimum": 1, "maximum": 50}
    if kind is bool:
        return {"type": "boolean"}
    if name == "interval":
        return {"enum": list(INTERVALS)}
    families = sorted({t.split(".")[0] + ".*" for t in CATALOG})
    named = {"type": "string", "enum": sorted(CATALOG) + families}
    custom = {"type": "string", "pattern": "^" + CUSTOM_PREFIX.replace(".", "\\.")}
    return {"type": "array", "items": {"anyOf": [named, custom]}}


def sections_json_schema() -> dict[str, Any]:
    """What :func:`validate_sections` admits, as the JSON Schema of a template's sections."""
    return {
        "type": "array",
        "minItems": len(BASE_SECTIONS),
        "maxItems": len(SECTIONS),
        "description": "Each section once, "
        + ", ".join(BASE_SECTIONS)
        + " always among them; options left out take their defaults.",
        "items": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "name": {"const": name},
                        **{key: _option_schema(key, kind) for key, (kind, _) in options.items()},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                }
                for name, options in SECTIONS.items()
            ]
        },
    }


def labels_json_schema() -> dict[str, Any]:
    """What :func:`validate_labels` admits: per language, a label for any section."""
    label = {"type": "string", "minLength": 1, "maxLength": 100}
    return {
        "type": "object",
        "description": "Per language (es, en...), the label shown for a section.",
        "additionalProperties": {
            "type": "object",
            "properties": dict.fromkeys(SECTIONS, label),
            "additionalProperties": False,
        },
    }


def label_for(labels: dict[str, dict[str, str]], language: str, section: str) -> str:
    """The template's label in ``language``, else the built-in one, else English."""
    for source in (
        labels.get(language, {}),
        LABELS.get(language, {}),
        labels.get("en", {}),
        LABELS["en"],
    ):
        if section in source:
            return source[section]
    return section
