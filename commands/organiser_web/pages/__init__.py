"""The pages of the organisers' web page, one module each; every module has a
``register(app, shell)`` that adds its routes and returns its navigation links
(:func:`commands.organiser_web.web.page_modules` lists them)."""
