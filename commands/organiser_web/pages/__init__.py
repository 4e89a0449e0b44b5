"""The organisers' web page, one module per page, each with ``register(app, web)`` that
adds its routes to the application :meth:`~commands.organiser_web.web.OrganiserWeb.application`
builds."""
