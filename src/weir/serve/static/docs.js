// Starts Swagger UI on /docs. A file of its own, not an inline script: the page's
// Content-Security-Policy allows scripts from this server only.
(function () {
  var openapi = document.currentScript.getAttribute("data-openapi");
  window.addEventListener("load", function () {
    window.ui = SwaggerUIBundle({
      url: openapi,
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      validatorUrl: null, // no badge fetched from the validator's site
      presets: [SwaggerUIBundle.presets.apis],
    });
  });
})();
