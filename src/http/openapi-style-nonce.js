// The API viewer writes its styles into <style> elements it creates; this gives each one the
// page's nonce, so the policy can refuse every other inline style (markup that slipped into the page).
const nonce = document.currentScript?.nonce ?? "";
const createElement = Document.prototype.createElement;
Document.prototype.createElement = function (name, options) {
  const element = createElement.call(this, name, options);
  if (String(name).toLowerCase() === "style") element.nonce = nonce;
  return element;
};
