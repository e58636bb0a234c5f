import nunjucks from 'nunjucks';
import { FragmentSlots, HtmlPage } from './html-page';

describe('pages spliced from kept fragments', () => {
  const fragment = (text: string) => Buffer.from(text, 'utf8');

  it('puts each fragment where its slot was rendered, in order, as the same bytes', () => {
    const slots = new FragmentSlots();
    const a = slots.slot(fragment('<table>Org A · modèle</table>'));
    const b = slots.slot(fragment('<table>Org B</table>'));
    const page = slots.splice(`<main><h1>Board “x”</h1>${a}<p>between</p>${b}</main>`);
    expect(page.toString()).toBe('<main><h1>Board “x”</h1><table>Org A · modèle</table><p>between</p><table>Org B</table></main>');
    expect(page.bytes().equals(Buffer.from(page.toString(), 'utf8'))).toBe(true);
    expect(page.parts.filter((p) => Buffer.isBuffer(p))).toHaveLength(2);
  });

  it('refuses a template that drops a slot, doubles one, or swaps them', () => {
    const twoSlots = () => {
      const slots = new FragmentSlots();
      return { slots, a: slots.slot(fragment('A')), b: slots.slot(fragment('B')) };
    };
    const dropped = twoSlots();
    expect(() => dropped.slots.splice(`<p>${dropped.a}</p>`)).toThrow(/did not place fragment 1/);
    const doubled = twoSlots();
    expect(() => doubled.slots.splice(`${doubled.a}${doubled.a}${doubled.b}`)).toThrow(/twice/);
    const swapped = twoSlots();
    expect(() => swapped.slots.splice(`${swapped.b}${swapped.a}`)).toThrow(/did not place fragment 1|twice/);
  });

  it('a value that carries a slot marker, rendered as the templates render values (autoescaped), fills no slot', () => {
    const slots = new FragmentSlots();
    const marker = slots.slot(fragment('<kept section>'));
    // A vendor's submission name, say, that someone made to look like the marker.
    const env = new nunjucks.Environment(null, { autoescape: true });
    const rendered = env.renderString('<td>{{ name }}</td>', { name: marker });
    expect(rendered).not.toContain(marker);
    expect(() => slots.splice(rendered)).toThrow(/did not place fragment 0/);
    expect(new HtmlPage(['a', fragment('b'), 'c']).toString()).toBe('abc');
  });
});
