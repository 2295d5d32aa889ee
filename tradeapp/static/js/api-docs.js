// Swagger UI for /api/docs/ (self-hosted bundle); the schema URL comes from data-schema-url.
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") { return; }

  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-schema-url"),
    domNode: root,
    deepLinking: true,
    // No call to the public validator service: pages work offline and talk only to us.
    validatorUrl: null,
    // Keep the bearer token across reloads while trying requests out.
    persistAuthorization: true,
    tryItOutEnabled: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
}());
