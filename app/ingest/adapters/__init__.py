"""The registry of webhook sources: one adapter module per platform."""

from app.ingest.adapters.aircall import AircallAdapter
from app.ingest.adapters.base import Adapter
from app.ingest.adapters.generic import GenericAdapter
from app.ingest.adapters.mailgun import MailgunAdapter
from app.ingest.adapters.postmark import PostmarkAdapter
from app.ingest.adapters.sendgrid_events import SendGridEventsAdapter
from app.ingest.adapters.sendgrid_inbound import SendGridInboundAdapter
from app.ingest.adapters.shopify import ShopifyAdapter
from app.ingest.adapters.stripe import StripeAdapter
from app.ingest.adapters.twilio import TwilioAdapter
from app.ingest.adapters.woocommerce import WooCommerceAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.source: adapter
    for adapter in (
        TwilioAdapter(),
        AircallAdapter(),
        SendGridInboundAdapter(),
        SendGridEventsAdapter(),
        MailgunAdapter(),
        PostmarkAdapter(),
        ShopifyAdapter(),
        WooCommerceAdapter(),
        StripeAdapter(),
        GenericAdapter(),
    )
}
