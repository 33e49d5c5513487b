<?xml version="1.0" encoding="UTF-8"?>
<!--
  Shows an RSS 2.0 or Atom 1.0 feed of this service as a readable page when it is opened in
  a browser: the feed's title and description, how to subscribe, and its items. Feed
  readers ignore it. Item text is copied as text, never as markup, so nothing in a feed can
  inject HTML into the page.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">

  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:variable name="months" select="'JanFebMarAprMayJunJulAugSepOctNovDec'"/>

  <xsl:template match="/">
    <xsl:choose>
      <xsl:when test="rss/channel">
        <xsl:call-template name="page">
          <xsl:with-param name="format" select="'RSS 2.0'"/>
          <xsl:with-param name="lang" select="rss/channel/language"/>
          <xsl:with-param name="title" select="rss/channel/title"/>
          <xsl:with-param name="description" select="rss/channel/description"/>
          <xsl:with-param name="home" select="rss/channel/link"/>
          <xsl:with-param name="self" select="rss/channel/atom:link[@rel='self']/@href"/>
          <xsl:with-param name="items" select="rss/channel/item"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="page">
          <xsl:with-param name="format" select="'Atom 1.0'"/>
          <xsl:with-param name="lang" select="atom:feed/@xml:lang"/>
          <xsl:with-param name="title" select="atom:feed/atom:title"/>
          <xsl:with-param name="description" select="atom:feed/atom:subtitle"/>
          <xsl:with-param name="home"
              select="atom:feed/atom:link[@rel='alternate' or not(@rel)]/@href"/>
          <xsl:with-param name="self" select="atom:feed/atom:link[@rel='self']/@href"/>
          <xsl:with-param name="items" select="atom:feed/atom:entry"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="page">
    <xsl:param name="format"/>
    <xsl:param name="lang"/>
    <xsl:param name="title"/>
    <xsl:param name="description"/>
    <xsl:param name="home"/>
    <xsl:param name="self"/>
    <xsl:param name="items"/>
    <!-- Every feed URL is <base>/feeds/…: the directory and the style sheet sit beside it. -->
    <xsl:variable name="base" select="substring-before($self, '/feeds/')"/>
    <html>
      <xsl:attribute name="lang">
        <xsl:choose>
          <xsl:when test="string($lang)"><xsl:value-of select="$lang"/></xsl:when>
          <xsl:otherwise>zh-Hant</xsl:otherwise>
        </xsl:choose>
      </xsl:attribute>
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/>（訂閱源）</title>
        <xsl:if test="$base">
          <link rel="stylesheet" href="{$base}/feeds/style.css"/>
        </xsl:if>
      </head>
      <body>
        <header>
          <p class="meta">這是一個 <xsl:value-of select="$format"/> 訂閱源，供新聞閱讀器使用。</p>
          <h1><xsl:value-of select="$title"/></h1>
          <xsl:if test="string($description)">
            <p class="description"><xsl:value-of select="$description"/></p>
          </xsl:if>
          <div class="subscribe">
            <p><strong>如何訂閱：</strong>複製下面的網址，貼到新聞閱讀器（RSS 閱讀器）的「新增訂閱」中。</p>
            <xsl:if test="$self">
              <p><code><xsl:value-of select="$self"/></code></p>
            </xsl:if>
            <p>
              <xsl:if test="$base">
                <a href="{$base}/feeds">全部訂閱源</a>
                <xsl:text> · </xsl:text>
              </xsl:if>
              <xsl:if test="string($home)">
                <a href="{$home}">前往網站</a>
              </xsl:if>
            </p>
          </div>
        </header>
        <main>
          <h2>最新 <xsl:value-of select="count($items)"/> 則</h2>
          <xsl:apply-templates select="$items"/>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="item">
    <xsl:call-template name="item">
      <xsl:with-param name="title" select="title"/>
      <xsl:with-param name="link" select="link"/>
      <xsl:with-param name="date">
        <xsl:call-template name="rfc822-date">
          <xsl:with-param name="value" select="normalize-space(pubDate)"/>
        </xsl:call-template>
      </xsl:with-param>
      <xsl:with-param name="summary" select="description"/>
      <xsl:with-param name="categories" select="category"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template match="atom:entry">
    <!-- A union is in document order and the renderer writes updated first: choose. -->
    <xsl:variable name="when">
      <xsl:choose>
        <xsl:when test="atom:published"><xsl:value-of select="normalize-space(atom:published)"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space(atom:updated)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:call-template name="item">
      <xsl:with-param name="title" select="atom:title"/>
      <xsl:with-param name="link" select="atom:link[@rel='alternate' or not(@rel)]/@href"/>
      <!-- RFC 3339 as the renderer writes it, already in the portal's zone. -->
      <xsl:with-param name="date"
          select="concat(substring($when, 1, 10), ' ', substring($when, 12, 5))"/>
      <xsl:with-param name="summary" select="atom:summary"/>
      <xsl:with-param name="categories" select="atom:category/@label"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="item">
    <xsl:param name="title"/>
    <xsl:param name="link"/>
    <xsl:param name="date"/>
    <xsl:param name="summary"/>
    <xsl:param name="categories"/>
    <article class="item">
      <h2>
        <xsl:choose>
          <xsl:when test="string($link)">
            <a href="{$link}"><xsl:value-of select="$title"/></a>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="$title"/></xsl:otherwise>
        </xsl:choose>
      </h2>
      <p class="meta">
        <time><xsl:value-of select="$date"/></time>
        <xsl:for-each select="$categories">
          <xsl:text> · </xsl:text><xsl:value-of select="."/>
        </xsl:for-each>
      </p>
      <xsl:if test="string($summary)">
        <p class="summary"><xsl:value-of select="$summary"/></p>
      </xsl:if>
    </article>
  </xsl:template>

  <!-- "Fri, 18 Feb 2022 17:42:25 +0800" -> "2022-02-18 17:42"; anything else as it is. -->
  <xsl:template name="rfc822-date">
    <xsl:param name="value"/>
    <xsl:variable name="rest" select="normalize-space(substring-after($value, ','))"/>
    <xsl:variable name="day" select="substring-before($rest, ' ')"/>
    <xsl:variable name="month" select="substring(substring-after($rest, ' '), 1, 3)"/>
    <xsl:variable name="after-month" select="substring-after(substring-after($rest, ' '), ' ')"/>
    <xsl:variable name="year" select="substring-before($after-month, ' ')"/>
    <xsl:variable name="time" select="substring(substring-after($after-month, ' '), 1, 5)"/>
    <xsl:choose>
      <xsl:when test="contains($months, $month) and string-length($month) = 3 and $year and $day">
        <xsl:value-of select="concat($year, '-',
            format-number(string-length(substring-before($months, $month)) div 3 + 1, '00'), '-',
            format-number($day, '00'), ' ', $time)"/>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$value"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
